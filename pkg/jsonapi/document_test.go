package jsonapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

type coreAttrs struct {
	Code string  `json:"code"`
	Name string  `json:"name"`
	Note *string `json:"note"`
}

func coreRes(typ, id string) *Resource {
	return &Resource{Type: typ, ID: id, Attributes: &coreAttrs{Code: id, Name: "n-" + id},
		Relationships: map[string]*Relationship{
			"children": ToMany([]Identifier{{"environment", "e1"}}),
			"project":  ToOne("project", "p1", "/api/projects/p1"),
			"template": ToNull("/api/templates"),
			"history":  LinksOnly("/api/history"),
		},
		Links: map[string]string{"self": "/api/" + typ + "s/" + id}}
}

func coreEncode(t *testing.T, doc Document, q *Query) map[string]any {
	t.Helper()
	b, err := Encode(doc, q)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("Encode produced invalid JSON: %v\n%s", err, b)
	}
	return out
}

func coreIdentifiers(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, r := range list {
		m := r.(map[string]any)
		out = append(out, m["type"].(string)+"/"+m["id"].(string))
	}
	return out
}

func TestEncodeIncluded(t *testing.T) {
	withInclude := &Query{Include: []string{"children"}, include: true}
	cases := []struct {
		name     string
		doc      Document
		q        *Query
		present  bool
		included []string
	}{
		{"omitted without include", Document{Data: coreRes("project", "p1")}, &Query{}, false, nil},
		{"omitted with nil query", Document{Data: coreRes("project", "p1")}, nil, false, nil},
		{"[] when include was sent", Document{Data: coreRes("project", "p1")}, withInclude, true, []string{}},
		{"[] when include was empty", Document{Data: []*Resource{}}, &Query{include: true}, true, []string{}},
		{"kept when the handler chose defaults", Document{Data: coreRes("project", "p1"), Included: []*Resource{}}, &Query{}, true, []string{}},
		{
			"deduplicated against single data and itself, sorted",
			Document{Data: coreRes("project", "p1"), Included: []*Resource{
				coreRes("project", "p1"), coreRes("environment", "e2"), coreRes("bookmark", "b1"),
				coreRes("environment", "e1"), coreRes("environment", "e2"),
			}},
			withInclude, true, []string{"bookmark/b1", "environment/e1", "environment/e2"},
		},
		{
			"deduplicated against list data",
			Document{Data: []*Resource{coreRes("project", "p1"), coreRes("project", "p2")}, Included: []*Resource{
				coreRes("project", "p2"), coreRes("environment", "e1"), coreRes("project", "p3"),
			}},
			withInclude, true, []string{"environment/e1", "project/p3"},
		},
		{"same id, other type is not a duplicate", Document{Data: coreRes("project", "x"), Included: []*Resource{coreRes("environment", "x")}},
			withInclude, true, []string{"environment/x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := coreEncode(t, c.doc, c.q)
			inc, ok := out["included"]
			if ok != c.present {
				t.Fatalf("included present = %v, want %v: %v", ok, c.present, out)
			}
			if !c.present {
				return
			}
			got := coreIdentifiers(inc)
			if got == nil {
				got = []string{}
			}
			if !reflect.DeepEqual(got, c.included) {
				t.Fatalf("included %v, want %v", got, c.included)
			}
		})
	}
}

func TestEncodeIsStable(t *testing.T) {
	build := func(order []int) Document {
		all := []*Resource{coreRes("environment", "e3"), coreRes("asset", "a1"), coreRes("environment", "e1"), coreRes("bookmark", "b9")}
		inc := make([]*Resource, len(order))
		for i, j := range order {
			inc[i] = all[j]
		}
		return Document{Data: coreRes("project", "p1"), Included: inc, Meta: map[string]any{"b": 1, "a": 2}}
	}
	first, err := Encode(build([]int{0, 1, 2, 3}), nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Encode(build([]int{3, 2, 1, 0}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Fatalf("the same resources in another order render differently:\n%s\n%s", first, second)
	}
}

func TestEncodeSparseFieldsets(t *testing.T) {
	doc := Document{Data: []*Resource{coreRes("project", "p1")}, Included: []*Resource{coreRes("environment", "e1")}}
	cases := []struct {
		name      string
		fields    map[string][]string
		projAttrs []string
		projRels  []string
		envAttrs  []string
	}{
		{"no fieldsets", nil, []string{"code", "name", "note"}, []string{"children", "history", "project", "template"}, []string{"code", "name", "note"}},
		{"attributes only", map[string][]string{"project": {"name", "code"}}, []string{"code", "name"}, nil, []string{"code", "name", "note"}},
		{"attribute and relationship", map[string][]string{"project": {"note", "children"}, "environment": {"code"}}, []string{"note"}, []string{"children"}, []string{"code"}},
		{"empty fieldset", map[string][]string{"project": nil}, []string{}, nil, []string{"code", "name", "note"}},
		{"unknown field is ignored", map[string][]string{"project": {"nope"}}, []string{}, nil, []string{"code", "name", "note"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := coreEncode(t, doc, &Query{Fields: c.fields, include: true})
			proj := out["data"].([]any)[0].(map[string]any)
			env := out["included"].([]any)[0].(map[string]any)
			if got := coreKeys(proj["attributes"]); !reflect.DeepEqual(got, c.projAttrs) {
				t.Errorf("project attributes %v, want %v", got, c.projAttrs)
			}
			if got := coreKeys(proj["relationships"]); !reflect.DeepEqual(got, c.projRels) && !(len(got) == 0 && len(c.projRels) == 0) {
				t.Errorf("project relationships %v, want %v", got, c.projRels)
			}
			if got := coreKeys(env["attributes"]); !reflect.DeepEqual(got, c.envAttrs) {
				t.Errorf("environment attributes %v, want %v", got, c.envAttrs)
			}
			if proj["links"] == nil || proj["id"] != "p1" || proj["type"] != "project" {
				t.Errorf("sparse fieldsets dropped type, id or links: %v", proj)
			}
		})
	}
	// The document the handler built must not be changed by rendering it.
	if doc.Data.([]*Resource)[0].Attributes.(*coreAttrs).Name != "n-p1" || len(doc.Data.([]*Resource)[0].Relationships) != 4 {
		t.Fatalf("Encode modified the caller's resources")
	}
}

func coreKeys(v any) []string {
	m, _ := v.(map[string]any)
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestEncodeRelationshipsAndTopLevel(t *testing.T) {
	out := coreEncode(t, Document{Data: coreRes("project", "p1"), Meta: map[string]any{"partial_response": true},
		Links: map[string]string{"next": "/api/projects?page[after]=x"}}, nil)
	rels := out["data"].(map[string]any)["relationships"].(map[string]any)
	want := map[string]string{
		"children": `{"data":[{"type":"environment","id":"e1"}]}`,
		"project":  `{"data":{"type":"project","id":"p1"},"links":{"related":"/api/projects/p1"}}`,
		"template": `{"data":null,"links":{"related":"/api/templates"}}`,
		"history":  `{"links":{"related":"/api/history"}}`,
	}
	for k, w := range want {
		b, _ := json.Marshal(rels[k])
		var a, e any
		_ = json.Unmarshal(b, &a)
		_ = json.Unmarshal([]byte(w), &e)
		if !reflect.DeepEqual(a, e) {
			t.Errorf("relationship %s = %s, want %s", k, b, w)
		}
	}
	if out["meta"].(map[string]any)["partial_response"] != true || out["links"].(map[string]any)["next"] == nil {
		t.Errorf("top-level meta/links lost: %v", out)
	}
	empty := coreEncode(t, Document{Data: []*Resource{}}, nil)
	if b, _ := json.Marshal(empty["data"]); string(b) != `[]` {
		t.Errorf("empty list renders data %s", b)
	}
	null := coreEncode(t, Document{}, nil)
	if v, ok := null["data"]; !ok || v != nil {
		t.Errorf("nil data must render as null: %v", null)
	}
}

func TestTimestamp(t *testing.T) {
	at := time.Date(2025, 4, 25, 8, 21, 23, 984222999, time.FixedZone("CEST", 2*3600))
	if got := Timestamp(at); got != "2025-04-25T06:21:23.984222Z" {
		t.Fatalf("Timestamp = %s", got)
	}
	if got := Timestamp(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); got != "2025-01-01T00:00:00.000000Z" {
		t.Fatalf("Timestamp keeps six digits: %s", got)
	}
	if TimestampPtr(nil) != nil {
		t.Fatalf("TimestampPtr(nil) must be nil")
	}
}

func TestRenderAndRenderError(t *testing.T) {
	w := httptest.NewRecorder()
	Render(w, http.StatusCreated, Document{Data: coreRes("project", "p1")}, nil)
	if w.Code != http.StatusCreated || w.Header().Get("Content-Type") != MediaType {
		t.Fatalf("Render: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	w = httptest.NewRecorder()
	RenderError(w, nil, errString("pq: relation \"nodes\" does not exist at /srv/db.go:12"))
	var doc struct {
		Errors []ErrorObject `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != 500 || len(doc.Errors) != 1 {
		t.Fatalf("RenderError: %d %s", w.Code, w.Body)
	}
	if e := doc.Errors[0]; e.Status != "500" || e.Title == "" || strings.Contains(w.Body.String(), "pq:") || strings.Contains(w.Body.String(), "db.go") {
		t.Fatalf("internal error leaks or lacks status: %s", w.Body)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestNullLinkRendersNull(t *testing.T) {
	r := &Resource{Type: "workflow", ID: "1", Links: map[string]string{"self": "/a", "latest": NullLink}}
	got, err := Encode(Document{Data: r, NullLinks: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"data":{"type":"workflow","id":"1","links":{"latest":null,"self":"/a"}}}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
