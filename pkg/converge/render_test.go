package converge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMintRender(t *testing.T) {
	data := map[string]any{"name": "soa", "port": 8080.0, "hosts": []any{"a", "b"},
		"db": map[string]any{"user": `o"brien`}}
	tests := []struct {
		name, tmpl string
		want       map[string]any
	}{
		{"fields", `{"name": "{{ .name }}", "port": {{ .port }}}`, map[string]any{"name": "soa", "port": 8080.0}},
		{"json helper", `{"hosts": {{ json .hosts }}, "user": {{ json .db.user }}}`,
			map[string]any{"hosts": []any{"a", "b"}, "user": `o"brien`}},
		{"range", `{"hosts": [{{ range $i, $h := .hosts }}{{ if $i }},{{ end }}"{{ $h }}"{{ end }}]}`,
			map[string]any{"hosts": []any{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RenderMintModel("m.json.tmpl", []byte(tt.tmpl), data)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(r.Bytes)
			if !reflect.DeepEqual(r.Data, tt.want) || r.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("got %#v (%s), want %#v", r.Data, r.SHA256, tt.want)
			}
		})
	}
}

func TestMintRenderErrors(t *testing.T) {
	data := map[string]any{"name": "soa", "nested": map[string]any{"a": 1.0}}
	tests := []struct {
		name, tmpl string
		key        string
		line       int
		msg        string
	}{
		{"missing key", "{\n\"x\": \"{{ .absent }}\"}", "absent", 2, `property "absent" is missing`},
		{"missing nested key", `{"x": {{ .nested.b }}}`, "b", 1, `"b" is missing`},
		{"parse error", "{\n{{ if .name }}\n}", "", 3, "unexpected EOF"},
		{"unknown function", `{{ nope .name }}`, "", 1, `"nope" not defined`},
		{"not json", `{"name": {{ .name }}}`, "", 0, "not valid JSON (output line 1"},
		{"not an object", `["{{ .name }}"]`, "", 0, "must be a JSON object, not an array"},
		{"too large", `{"x": "{{ range 5000000 }}xxxxxxxxxx{{ end }}"}`, "", 0, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderMintModel("mintmodel/templates/assets/t.json.tmpl", []byte(tt.tmpl), data)
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("want a *RenderError, got %v", err)
			}
			if re.Key != tt.key || re.Line != tt.line || !strings.Contains(re.Msg, tt.msg) {
				t.Fatalf("got key %q line %d msg %q; want key %q line %d containing %q", re.Key, re.Line, re.Msg, tt.key, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "mintmodel/templates/assets/t.json.tmpl") {
				t.Fatalf("error %q does not name the template", err)
			}
		})
	}
}

func TestMintModelPath(t *testing.T) {
	if got := MintModelPath("web"); got != "mintmodel/templates/assets/web.json.tmpl" {
		t.Fatal(got)
	}
}
