package testutil

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	gjsonapi "github.com/google/jsonapi"
)

const clientChange = `{"data":{"type":"change","id":"c1","attributes":{%s},
 "relationships":{"steps":{"data":[{"type":"step","id":"s1"},{"type":"step","id":"s2"}]},
  "root_step":{"data":{"type":"step","id":"s1"}},"workflow":{"data":null},
  "parents":{"data":[{"type":"project","id":"p"},{"type":"environment","id":"e"}]}}},
 "included":[
  {"type":"step","id":"s1","attributes":{%s},"relationships":{"children":{"data":[{"type":"step","id":"s2"}]},"change":{"data":{"type":"change","id":"c1"}}}},
  {"type":"step","id":"s2","attributes":{%s},"relationships":{"children":{"data":[]},"change":{"data":{"type":"change","id":"c1"}}}}]}`

func clientAttrs(t reflect.Type, override map[string]string) string {
	var parts []string
	for i := 0; i < t.NumField(); i++ {
		args := strings.Split(t.Field(i).Tag.Get("jsonapi"), ",")
		if args[0] != "attr" {
			continue
		}
		v, ok := override[args[1]]
		if !ok {
			switch t.Field(i).Type.Kind() {
			case reflect.Bool:
				v = "false"
			case reflect.Int:
				v = "1"
			case reflect.Map:
				v = "{}"
			case reflect.Slice:
				v = "[]"
			default:
				v = `"x"`
			}
		}
		if v != "-" {
			parts = append(parts, `"`+args[1]+`":`+v)
		}
	}
	return strings.Join(parts, ",")
}

func clientDoc(change, step map[string]string) []byte {
	ct, st := reflect.TypeOf(Change{}), reflect.TypeOf(Step{})
	return []byte(strings.NewReplacer("\n", "").Replace(
		sprintf3(clientChange, clientAttrs(ct, change), clientAttrs(st, step), clientAttrs(st, step))))
}

func sprintf3(f, a, b, c string) string {
	f = strings.Replace(f, "%s", a, 1)
	f = strings.Replace(f, "%s", b, 1)
	return strings.Replace(f, "%s", c, 1)
}

func TestClientResolvesIncluded(t *testing.T) {
	body := clientDoc(map[string]string{"created_at": `"2025-04-25T06:21:23.984222Z"`, "metadata": `{"n":3}`, "name": "null",
		"approved_by": `[{"username":"olivia","message":"ok"}]`}, map[string]string{"status_code": `"success"`})
	var c Change
	if err := decodeOne(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.ID != "c1" || c.CreatedAt != "2025-04-25T06:21:23.984222Z" || c.Name != nil || c.Metadata["n"] != 3.0 ||
		len(c.ApprovedBy) != 1 || c.ApprovedBy[0].Username != "olivia" || *c.ApprovedBy[0].Message != "ok" {
		t.Fatalf("change %+v", c)
	}
	if len(c.Steps) != 2 || c.Steps[1].StatusCode != "success" || c.RootStep.ID != "s1" ||
		len(c.RootStep.Children) != 1 || c.RootStep.Children[0].StatusCode != "success" || c.Steps[0].Change.ID != "c1" {
		t.Fatalf("steps %+v, root %+v", c.Steps, c.RootStep)
	}
	if got := IDs(c.Steps); !reflect.DeepEqual(got, []string{"s1", "s2"}) {
		t.Fatalf("IDs = %v", got)
	}
}

func TestClientRefusesWhatItWouldMisread(t *testing.T) {
	for name, body := range map[string][]byte{
		"missing attribute":          clientDoc(map[string]string{"status_code": "-"}, nil),
		"null in a non-pointer":      clientDoc(map[string]string{"metadata": "null"}, nil),
		"missing included attribute": clientDoc(nil, map[string]string{"action": "-"}),
	} {
		if err := decodeOne(body, &Change{}); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	cyclic := strings.Replace(string(clientDoc(nil, nil)), `"children":{"data":[]}`, `"children":{"data":[{"type":"step","id":"s1"}]}`, 1)
	if err := decodeOne([]byte(cyclic), &Change{}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
}

// The limits the helpers work around, pinned so a new google/jsonapi shows
// when one goes away.
func TestClientGoogleJSONAPILimits(t *testing.T) {
	// A relationship whose members differ in type cannot be typed.
	type mixed struct {
		ID      string     `jsonapi:"primary,change"`
		Parents []*Project `jsonapi:"relation,parents"`
	}
	if err := decodeOne(clientDoc(nil, nil), &mixed{}); err == nil {
		t.Error("google/jsonapi now reads mixed-type linkage")
	}
	// Its time tags read the microseconds (Go's time.Parse accepts a fraction
	// the layout lacks) but write none: strings keep the wire format testable.
	type timed struct {
		ID        string    `jsonapi:"primary,x"`
		CreatedAt time.Time `jsonapi:"attr,created_at,rfc3339"`
	}
	var v timed
	body := `{"data":{"type":"x","id":"1","attributes":{"created_at":"2025-04-25T06:21:23.984222Z"}}}`
	if err := gjsonapi.UnmarshalPayload(strings.NewReader(body), &v); err != nil || v.CreatedAt.Nanosecond() != 984222000 {
		t.Errorf("rfc3339 read %v, %v", v.CreatedAt, err)
	}
	var out bytes.Buffer
	if err := gjsonapi.MarshalPayload(&out, &v); err != nil || !strings.Contains(out.String(), `"2025-04-25T06:21:23Z"`) {
		t.Errorf("google/jsonapi now writes sub-second times: %s, %v", out.String(), err)
	}
}
