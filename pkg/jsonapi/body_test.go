package jsonapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
)

func coreDecode(body string, allowed []string) (*Body, error) {
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	return DecodeBody(r, "project", allowed)
}

var coreAllowed = []string{"code", "name", "description", "archived", "count", "tags", "data"}

func TestDecodeBodyRejects(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		allowed []string
		status  int
		code    string
		pointer string
	}{
		{"empty body", ``, coreAllowed, 400, "malformed_body", "/"},
		{"malformed JSON", `{"data":`, coreAllowed, 400, "malformed_body", "/"},
		{"not JSON at all", `code=opc`, coreAllowed, 400, "malformed_body", "/"},
		{"trailing garbage", `{"data":{"type":"project"}} x`, coreAllowed, 400, "malformed_body", "/"},
		{"trailing brace", `{"data":{"type":"project"}}}`, coreAllowed, 400, "malformed_body", "/"},
		{"two documents", `{"data":{}}{"data":{}}`, coreAllowed, 400, "malformed_body", "/"},
		{"document is an array", `[{"data":{}}]`, coreAllowed, 400, "malformed_body", "/"},
		{"data is an array", `{"data":[{"type":"project"}]}`, coreAllowed, 400, "malformed_body", "/"},
		{"attributes is a string", `{"data":{"attributes":"x"}}`, coreAllowed, 400, "malformed_body", "/"},
		{"missing data", `{"meta":{}}`, coreAllowed, 400, "missing_data", "/data"},
		{"null data", `{"data":null}`, coreAllowed, 400, "missing_data", "/data"},
		{"wrong type", `{"data":{"type":"environment","attributes":{}}}`, coreAllowed, 409, "type_mismatch", "/data/type"},
		{"unknown attribute", `{"data":{"type":"project","attributes":{"code":"a","password":"x"}}}`, coreAllowed, 422, "unknown_attribute", "/data/attributes/password"},
		{"unknown attributes, first by name", `{"data":{"attributes":{"zz":1,"aa":2}}}`, coreAllowed, 422, "unknown_attribute", "/data/attributes/aa"},
		{"NUL in an attribute", `{"data":{"attributes":{"name":"a\u0000b"}}}`, coreAllowed, 422, "invalid_characters", "/data/attributes/name"},
		{"NUL deep in a free-form attribute", `{"data":{"attributes":{"data":{"k":["x","\u0000"]}}}}`, coreAllowed, 422, "invalid_characters", "/data/attributes/data"},
		{"NUL in a free-form key", `{"data":{"attributes":{"data":{"k\u0000":1}}}}`, nil, 422, "invalid_characters", "/data/attributes/data"},
		{"NUL in meta", `{"data":{"meta":{"note":"\u0000"}}}`, coreAllowed, 422, "invalid_characters", "/data/meta/note"},
		{"nothing allowed", `{"data":{"attributes":{"code":"a"}}}`, []string{}, 422, "unknown_attribute", "/data/attributes/code"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := coreDecode(c.body, c.allowed)
			if err == nil {
				t.Fatalf("accepted %s", c.body)
			}
			e := steward.AsError(err)
			if Status(err) != c.status || e.Code != c.code || pointerOf(e) != c.pointer || e.Detail == "" {
				t.Fatalf("got %d %q at %q (%s), want %d %q at %q", Status(err), e.Code, pointerOf(e), e.Detail, c.status, c.code, c.pointer)
			}
		})
	}
	_, err := coreDecode(`{"data":{"attributes":{"zz":1,"password":2}}}`, coreAllowed)
	if d := steward.AsError(err).Detail; !strings.Contains(d, "password") || !strings.Contains(d, "zz") {
		t.Fatalf("unknown attribute detail does not name them all: %s", d)
	}
}

func TestDecodeBodyFreeForm(t *testing.T) {
	b, err := coreDecode(`{"data":{"type":"project","id":"x","attributes":{"anything":{"a":1}},"meta":{"m":true}}}`, nil)
	if err != nil {
		t.Fatalf("free-form body refused: %v", err)
	}
	if !b.Has("anything") || b.ID != "x" || b.Meta["m"] == nil || len(b.Attributes()) != 1 {
		t.Fatalf("decoded %+v", b)
	}
	if b, err = coreDecode(`{"data":{"attributes":{"name":"C:\\u0000"}}}`, coreAllowed); err != nil {
		t.Fatalf("an escaped backslash before u0000 is no NUL: %v", err)
	}
	if b, err = coreDecode(`{"data":{}}`, coreAllowed); err != nil || len(b.Attributes()) != 0 {
		t.Fatalf("no type and no attributes must be accepted: %v", err)
	}
}

func TestBodyGettersNullVersusAbsent(t *testing.T) {
	b, err := coreDecode(`{"data":{"type":"project","attributes":{
		"code":"opc","name":null,"description":null,"archived":true,"count":3,"tags":["a","b"],"data":{"k":"v"}}}}`, coreAllowed)
	if err != nil {
		t.Fatalf("DecodeBody: %v", err)
	}
	if !b.Has("name") || !b.IsNull("name") || b.Has("absent") || b.IsNull("code") || b.IsNull("absent") {
		t.Fatalf("Has/IsNull confuse null and absent")
	}
	code, absent := "", "kept"
	if err := b.String("code", &code); err != nil || code != "opc" {
		t.Fatalf("String(code) = %q, %v", code, err)
	}
	if err := b.String("absent", &absent); err != nil || absent != "kept" {
		t.Fatalf("String of an absent attribute must keep the value: %q %v", absent, err)
	}
	if err := b.String("name", &code); pointerOf(steward.AsError(err)) != "/data/attributes/name" || Status(err) != 422 {
		t.Fatalf("String(null) must be a 422 at the attribute: %v", err)
	}
	kept := "old"
	desc := &kept
	if err := b.NullableString("description", &desc); err != nil || desc != nil {
		t.Fatalf("NullableString(null) = %v, %v", desc, err)
	}
	desc = &kept
	if err := b.NullableString("absent", &desc); err != nil || desc != &kept {
		t.Fatalf("NullableString of an absent attribute must keep the value")
	}
	if err := b.NullableString("count", &desc); Status(err) != 422 {
		t.Fatalf("NullableString(3) must be refused: %v", err)
	}
	var archived bool
	var count int
	var tags []string
	var data map[string]any
	if err := steward.First(b.Bool("archived", &archived), b.Int("count", &count), b.Strings("tags", &tags), b.Object("data", &data)); err != nil {
		t.Fatalf("typed getters: %v", err)
	}
	if !archived || count != 3 || len(tags) != 2 || data["k"] != "v" {
		t.Fatalf("typed getters read %v %v %v %v", archived, count, tags, data)
	}
	wrong := []struct {
		name string
		read func() error
	}{
		{"Bool of a string", func() error { return b.Bool("code", &archived) }},
		{"Bool of null", func() error { return b.Bool("name", &archived) }},
		{"Int of a string", func() error { return b.Int("code", &count) }},
		{"Int of null", func() error { return b.Int("name", &count) }},
		{"Strings of an object", func() error { return b.Strings("data", &tags) }},
		{"Strings of null", func() error { return b.Strings("name", &tags) }},
		{"Object of an array", func() error { return b.Object("tags", &data) }},
		{"Object of null", func() error { return b.Object("name", &data) }},
		{"Require of an absent attribute", func() error { return b.Require("code", "absent") }},
	}
	for _, w := range wrong {
		err := w.read()
		if Status(err) != 422 || !strings.HasPrefix(pointerOf(steward.AsError(err)), "/data/attributes/") {
			t.Errorf("%s: got %v, want a 422 with a pointer", w.name, err)
		}
	}
	if err := b.Require("code", "name"); err != nil {
		t.Errorf("Require counts null as present (the getter then judges it): %v", err)
	}
}

func TestBodyCheckID(t *testing.T) {
	b, _ := coreDecode(`{"data":{"type":"project","id":"a"}}`, nil)
	if err := b.CheckID("a"); err != nil {
		t.Fatalf("matching id refused: %v", err)
	}
	if err := b.CheckID("b"); Status(err) != 409 || pointerOf(steward.AsError(err)) != "/data/id" {
		t.Fatalf("mismatched id: %v", err)
	}
	if err := b.NoClientID(); Status(err) != 403 || pointerOf(steward.AsError(err)) != "/data/id" {
		t.Fatalf("client-generated id on create: %v", err)
	}
	b, _ = coreDecode(`{"data":{"type":"project"}}`, nil)
	if err := steward.First(b.CheckID("b"), b.NoClientID()); err != nil {
		t.Fatalf("absent id refused: %v", err)
	}
}

func TestDecodeBodyTooLarge(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{"data":{"attributes":{"name":"`+strings.Repeat("x", 2048)+`"}}}`))
	r.Body = http.MaxBytesReader(w, r.Body, 1024)
	_, err := DecodeBody(r, "project", nil)
	if Status(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v, want 413", err)
	}
}

// TestDecodeBodyNULCheckKeepsBigNumbers: a number float64 cannot hold does
// not make the NUL check refuse the document.
func TestDecodeBodyNULCheckKeepsBigNumbers(t *testing.T) {
	b, err := coreDecode(`{"data":{"attributes":{"data":{"s":"\\u0000","n":1e400}}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := b.Object("data", &m); err != nil || m["s"] != `\u0000` || m["n"] != json.Number("1"+strings.Repeat("0", 400)) {
		t.Fatalf("%#v, %v", m, err)
	}
}
