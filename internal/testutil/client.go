package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	gjsonapi "github.com/google/jsonapi"
)

// google/jsonapi v1.0.0 is Steward's reference Go client (DESIGN §8): tests
// read documents through it, into the tagged structs of resources.go, so every
// document a test reads this way is proven readable by a standard Go JSON:API
// client, with relationships resolved from included.
//
// What it cannot do:
//   - a relationship whose members have different types (a project's
//     children, a node's or a change's parents, an event's source): its
//     primary tag names one type and any other is an error, so tests read
//     such linkage raw;
//   - attributes under keys not known in advance (custom event attributes):
//     it fills declared fields only, so a test declares the keys it reads;
//   - links and meta: it drops them, so tests read them raw.
//
// Timestamps are read as strings, so tests see the wire format (UTC,
// microseconds). Its rfc3339/iso8601 time tags would read the microseconds
// (Go's time.Parse accepts a fraction the layout lacks); it is writing with
// them that drops sub-second times.
//
// Two of its silences are made loud here (checkDecodable): an attribute a struct
// declares but the document lacks, or holds as null in a non-pointer field,
// would otherwise read as the zero value; and a cycle through included
// resources would overflow the stack, which no recover catches.

// One decodes the single-resource document in r into a new T, a struct tagged
// `jsonapi:"primary,<type>"`, with google/jsonapi's UnmarshalPayload.
func One[T any](t testing.TB, r *Response) *T {
	t.Helper()
	v := new(T)
	if err := decodeOne(r.Body, v); err != nil {
		t.Fatalf("google/jsonapi cannot read the document as %T: %v\n%s", v, err, r.Body)
	}
	return v
}

// Many decodes the list document in r into new Ts with google/jsonapi's
// UnmarshalManyPayload, in document order.
func Many[T any](t testing.TB, r *Response) []*T {
	t.Helper()
	items, err := decodeMany(r.Body, reflect.TypeOf(new(T)))
	if err != nil {
		t.Fatalf("google/jsonapi cannot read the list as []*%T: %v\n%s", *new(T), err, r.Body)
	}
	out := make([]*T, len(items))
	for i, it := range items {
		out[i] = it.(*T)
	}
	return out
}

// IDs lists the ids of decoded resources (tagged structs or Nodes), in
// order; nil for none.
func IDs[T any](items []*T) []string {
	var out []string
	for _, it := range items {
		out = append(out, primaryID(reflect.ValueOf(it)))
	}
	return out
}

// Node is what projects, environments and assets share, for tests that walk
// every kind: OneNode and ManyNodes decode whichever kind the document holds
// (through Project, Environment or Asset) and return this view of it.
type Node struct {
	Type, ID, Code, Name string
	Description          *string
	Archived             bool
}

// OneNode decodes a project, environment or asset document.
func OneNode(t testing.TB, r *Response) *Node {
	t.Helper()
	typ := documentType(r.Body)
	nt, ok := nodeTypes[typ]
	if !ok {
		t.Fatalf("not a node document (type %q): %s", typ, r.Body)
	}
	v := reflect.New(nt)
	if err := decodeOne(r.Body, v.Interface()); err != nil {
		t.Fatalf("google/jsonapi cannot read the document as %s: %v\n%s", nt, err, r.Body)
	}
	return nodeView(typ, v)
}

// ManyNodes decodes a list of projects, environments or assets.
func ManyNodes(t testing.TB, r *Response) []*Node {
	t.Helper()
	typ := documentType(r.Body)
	if typ == "" {
		return nil // an empty list
	}
	nt, ok := nodeTypes[typ]
	if !ok {
		t.Fatalf("not a node list (type %q): %s", typ, r.Body)
	}
	items, err := decodeMany(r.Body, reflect.PointerTo(nt))
	if err != nil {
		t.Fatalf("google/jsonapi cannot read the list as []*%s: %v\n%s", nt, err, r.Body)
	}
	out := make([]*Node, len(items))
	for i, it := range items {
		out[i] = nodeView(typ, reflect.ValueOf(it))
	}
	return out
}

var nodeTypes = map[string]reflect.Type{
	"project":     reflect.TypeOf(Project{}),
	"environment": reflect.TypeOf(Environment{}),
	"asset":       reflect.TypeOf(Asset{}),
}

func nodeView(typ string, v reflect.Value) *Node {
	e := v.Elem()
	return &Node{Type: typ, ID: e.FieldByName("ID").String(), Code: e.FieldByName("Code").String(),
		Name: e.FieldByName("Name").String(), Description: e.FieldByName("Description").Interface().(*string),
		Archived: e.FieldByName("Archived").Bool()}
}

// documentType is the type of the primary resource (the first, in a list).
func documentType(body []byte) string {
	var doc struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(body, &doc)
	for _, r := range decodeResources(doc.Data) {
		return r.Type
	}
	return ""
}

func decodeOne(body []byte, v any) error {
	if err := checkDecodable(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	return gjsonapi.UnmarshalPayload(bytes.NewReader(body), v)
}

func decodeMany(body []byte, ptr reflect.Type) ([]any, error) {
	if err := checkDecodable(body, ptr); err != nil {
		return nil, err
	}
	return gjsonapi.UnmarshalManyPayload(bytes.NewReader(body), ptr)
}

// wireResource is a resource object as the checks below need it.
type wireResource struct {
	Type          string                     `json:"type"`
	ID            string                     `json:"id"`
	Attributes    map[string]json.RawMessage `json:"attributes"`
	Relationships map[string]struct {
		Data json.RawMessage `json:"data"`
	} `json:"relationships"`
}

// structInfo is what the checks need of one tagged struct type.
type structInfo struct {
	typ       string // its JSON:API type
	attrs     []attrField
	relations map[string]reflect.Type // relationship name -> related struct type
}

type attrField struct {
	name     string
	optional bool // tagged omitempty: the document may leave it out
	nullable bool // a pointer: null reads as nil
}

// structInfos walks the struct graph from t (pointer or struct) through its
// relation fields.
func structInfos(t reflect.Type, out map[reflect.Type]*structInfo) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || out[t] != nil {
		return
	}
	info := &structInfo{relations: map[string]reflect.Type{}}
	out[t] = info
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		args := strings.Split(f.Tag.Get("jsonapi"), ",")
		if len(args) < 2 {
			continue
		}
		switch args[0] {
		case "primary":
			info.typ = args[1]
		case "attr":
			a := attrField{name: args[1], nullable: f.Type.Kind() == reflect.Pointer || f.Type.Kind() == reflect.Interface}
			for _, opt := range args[2:] {
				a.optional = a.optional || opt == "omitempty"
			}
			info.attrs = append(info.attrs, a)
		case "relation":
			rt := f.Type
			for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice {
				rt = rt.Elem()
			}
			info.relations[args[1]] = rt
			structInfos(rt, out)
		}
	}
}

// checkDecodable fails documents google/jsonapi would misread silently (a
// declared attribute missing, or null in a field that cannot hold null) or
// not survive (a cycle through included resources along declared relations).
func checkDecodable(body []byte, model reflect.Type) error {
	var doc struct {
		Data     json.RawMessage `json:"data"`
		Included []wireResource  `json:"included"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	var data []wireResource
	if err := json.Unmarshal(doc.Data, &data); err != nil {
		var one wireResource
		if err := json.Unmarshal(doc.Data, &one); err != nil {
			return fmt.Errorf("data is neither a resource nor a list: %w", err)
		}
		data = []wireResource{one}
	}
	infos := map[reflect.Type]*structInfo{}
	structInfos(model, infos)
	byType := map[string]*structInfo{}
	for _, info := range infos {
		byType[info.typ] = info
	}
	for _, r := range append(append([]wireResource{}, data...), doc.Included...) {
		info := byType[r.Type]
		if info == nil {
			continue
		}
		for _, a := range info.attrs {
			raw, ok := r.Attributes[a.name]
			switch {
			case !ok && !a.optional:
				return fmt.Errorf("%s %s has no attribute %q, which would read as a zero value", r.Type, r.ID, a.name)
			case ok && !a.nullable && string(bytes.TrimSpace(raw)) == "null":
				return fmt.Errorf("%s %s has %q null, which would read as a zero value", r.Type, r.ID, a.name)
			}
		}
	}
	return checkAcyclic(data, doc.Included, infos, model)
}

// checkAcyclic refuses a document whose included resources reach themselves
// along the relations the structs declare: google/jsonapi follows those
// without end, until the stack overflows.
func checkAcyclic(data, included []wireResource, infos map[reflect.Type]*structInfo, model reflect.Type) error {
	for model.Kind() == reflect.Pointer {
		model = model.Elem()
	}
	inc := map[string]*wireResource{}
	for i := range included {
		inc[included[i].Type+","+included[i].ID] = &included[i]
	}
	type visit struct {
		key string
		st  reflect.Type
	}
	state := map[visit]int{} // 1 on the path, 2 done
	var walk func(r *wireResource, st reflect.Type, path []string) error
	walk = func(r *wireResource, st reflect.Type, path []string) error {
		info := infos[st]
		if info == nil {
			return nil
		}
		for name, target := range info.relations {
			rel, ok := r.Relationships[name]
			if !ok {
				continue
			}
			for _, id := range linkage(rel.Data) {
				next := inc[id.Type+","+id.ID]
				if next == nil {
					continue // a bare identifier: google/jsonapi stops there
				}
				v := visit{id.Type + "," + id.ID, target}
				switch state[v] {
				case 1:
					return fmt.Errorf("included resources form a cycle google/jsonapi would follow for ever: %s",
						strings.Join(append(path, name+" -> "+v.key), " "))
				case 2:
					continue
				}
				state[v] = 1
				if err := walk(next, target, append(path, name+" -> "+v.key)); err != nil {
					return err
				}
				state[v] = 2
			}
		}
		return nil
	}
	for i := range data {
		if err := walk(&data[i], model, []string{data[i].Type + "," + data[i].ID}); err != nil {
			return err
		}
	}
	return nil
}

type identifier struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func linkage(raw json.RawMessage) []identifier {
	var many []identifier
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	var one identifier
	if json.Unmarshal(raw, &one) == nil && one.Type != "" {
		return []identifier{one}
	}
	return nil
}

// primaryID reads the field tagged primary of a pointer to a tagged struct
// (or the ID of a Node).
func primaryID(v reflect.Value) string {
	e := v.Elem()
	for i := 0; i < e.NumField(); i++ {
		if strings.HasPrefix(e.Type().Field(i).Tag.Get("jsonapi"), "primary,") {
			return e.Field(i).String()
		}
	}
	return e.FieldByName("ID").String()
}

// Str is the string p points to, "" for nil (a null attribute): for
// comparing a nullable attribute with a non-empty value.
func Str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
