package converge

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestConvParse(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                map[string]any
	}{
		{"json", "p.json", `{"a": 1, "b": {"c": [true, null, "x"]}}`,
			map[string]any{"a": 1.0, "b": map[string]any{"c": []any{true, nil, "x"}}}},
		{"yaml", "p.yaml", "a: 1\nb:\n  c: [true, null, x]\n",
			map[string]any{"a": 1.0, "b": map[string]any{"c": []any{true, nil, "x"}}}},
		{"yml non-string keys become text", "p.yml", "1: one\ntrue: yes\n", // YAML 1.2: yes is text
			map[string]any{"1": "one", "true": "yes"}},
		{"toml", "p.toml", "a = 1\n[b]\nc = [true, false]\nwhen = 2025-04-25T06:21:23Z\n",
			map[string]any{"a": 1.0, "b": map[string]any{"c": []any{true, false}, "when": "2025-04-25T06:21:23Z"}}},
		{"empty yaml", "p.yaml", "", map[string]any{}},
		{"empty toml", "p.toml", "\n", map[string]any{}},
		{"extension case", "P.JSON", `{"a": "b"}`, map[string]any{"a": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.file, []byte(tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestConvParseErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		line                int
		msg                 string
	}{
		{"json syntax", "properties/a.json", "{\n  \"a\": 1,\n  \"b\" 2\n}", 3, "invalid character"},
		{"json truncated", "properties/a.json", "{\n\"a\": [1,\n", 3, "unexpected end"},
		{"json empty", "properties/a.json", "", 1, "unexpected end"},
		{"json trailing", "properties/a.json", "{}\n{}", 2, "after the top-level value"},
		{"json array", "properties/a.json", "[1]", 1, "must be an object, not an array"},
		{"json null", "properties/a.json", "null", 1, "not null"},
		{"yaml syntax", "properties/a.yaml", "a: 1\nb: [1, 2\nc: 3\n", 3, "must be specified"},
		{"yaml duplicate key", "properties/a.yaml", "a: 1\nb: 2\na: 3\n", 3, "already defined"},
		{"yaml scalar", "properties/a.yml", "just text\n", 1, "must be an object, not a string"},
		{"toml syntax", "properties/a.toml", "a = 1\nb = \n", 2, ""},
		{"toml duplicate key", "properties/a.toml", "a = 1\na = 2\n", 2, ""},
		{"unknown extension", "properties/a.ini", "a=1", 0, "unsupported file type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.file, []byte(tt.content))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want a *ParseError, got %v", err)
			}
			if pe.File != tt.file || pe.Line != tt.line || !strings.Contains(pe.Msg, tt.msg) {
				t.Fatalf("got file %q line %d msg %q; want %q line %d containing %q", pe.File, pe.Line, pe.Msg, tt.file, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), tt.file) {
				t.Fatalf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestConvParseTooLarge(t *testing.T) {
	_, err := Parse("properties/big.json", make([]byte, MaxFileSize+1))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("want a size error, got %v", err)
	}
}

func TestConvFolders(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"/projects/p", []string{"properties", "properties/projects/p"}},
		{"/projects/p/environments/e", []string{"properties", "properties/projects/p", "properties/projects/p/environments/e"}},
		{"/projects/p/assets/a", []string{"properties", "properties/projects/p", "properties/projects/p/assets/a"}},
		{"/projects/p/environments/e/assets/a", []string{"properties", "properties/projects/p",
			"properties/projects/p/environments/e", "properties/projects/p/environments/e/assets/a"}},
		{"", []string{"properties"}},
		{"/projects", []string{"properties"}},
	}
	for _, tt := range tests {
		if got := Folders(tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Folders(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestConvSelect(t *testing.T) {
	files := map[string][]byte{}
	for _, p := range []string{
		"properties/z.yaml", "properties/a.json", "properties/README.md",
		"properties/projects/p/b.toml", "properties/projects/p/a.yml",
		"properties/projects/q/a.json", // another project
		"properties/projects/p/environments/e/x.json",
		"properties/projects/p/environments/f/x.json", // another environment
		"properties/projects/p/environments/e/assets/a/1.json",
		"properties/projects/p/assets/a/1.json", // the project-level asset of the same code
		"properties/projects/p/nested/deeper.json",
	} {
		files[p] = []byte("{}")
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/projects/p/environments/e/assets/a", []string{"properties/a.json", "properties/z.yaml",
			"properties/projects/p/a.yml", "properties/projects/p/b.toml",
			"properties/projects/p/environments/e/x.json", "properties/projects/p/environments/e/assets/a/1.json"}},
		{"/projects/p/assets/a", []string{"properties/a.json", "properties/z.yaml",
			"properties/projects/p/a.yml", "properties/projects/p/b.toml", "properties/projects/p/assets/a/1.json"}},
		{"/projects/q", []string{"properties/a.json", "properties/z.yaml", "properties/projects/q/a.json"}},
	}
	for _, tt := range tests {
		if got := Select(files, tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Select(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestConvRepositoryFilesStopsAtBrokenFile(t *testing.T) {
	files := map[string][]byte{
		"properties/a.json":               []byte(`{"a": 1}`),
		"properties/projects/p/bad.yaml":  []byte("a: [\n"),
		"properties/projects/p/good.yaml": []byte("b: 2\n"),
	}
	_, err := RepositoryFiles(files, "/projects/p")
	if err == nil || !strings.Contains(err.Error(), "properties/projects/p/bad.yaml line") {
		t.Fatalf("want an error naming bad.yaml and its line, got %v", err)
	}
	got, err := RepositoryFiles(map[string][]byte{"properties/a.json": []byte(`{"a": 1}`)}, "/projects/p")
	if err != nil || len(got) != 1 || got[0].Path != "properties/a.json" || got[0].Content["a"] != 1.0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestConvMerge(t *testing.T) {
	tests := []struct {
		name string
		docs []map[string]any
		want map[string]any
	}{
		{"none", nil, map[string]any{}},
		{"objects merge", []map[string]any{
			{"a": map[string]any{"x": 1.0, "y": 1.0}},
			{"a": map[string]any{"y": 2.0, "z": 2.0}},
		}, map[string]any{"a": map[string]any{"x": 1.0, "y": 2.0, "z": 2.0}}},
		{"arrays replace", []map[string]any{
			{"l": []any{1.0, 2.0, 3.0}}, {"l": []any{4.0}},
		}, map[string]any{"l": []any{4.0}}},
		{"scalars replace", []map[string]any{{"s": "a", "n": 1.0}, {"s": "b"}}, map[string]any{"s": "b", "n": 1.0}},
		{"object replaces scalar", []map[string]any{{"k": "v"}, {"k": map[string]any{"a": 1.0}}}, map[string]any{"k": map[string]any{"a": 1.0}}},
		{"scalar replaces object", []map[string]any{{"k": map[string]any{"a": 1.0}}, {"k": "v"}}, map[string]any{"k": "v"}},
		{"null replaces", []map[string]any{{"k": map[string]any{"a": 1.0}}, {"k": nil}}, map[string]any{"k": nil}},
		{"deep", []map[string]any{
			{"a": map[string]any{"b": map[string]any{"c": 1.0, "d": []any{1.0}}}},
			{"a": map[string]any{"b": map[string]any{"d": []any{2.0}}}},
			{"a": map[string]any{"e": true}},
		}, map[string]any{"a": map[string]any{"b": map[string]any{"c": 1.0, "d": []any{2.0}}, "e": true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Merge(tt.docs...); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestConvMergeLeavesInputsAlone(t *testing.T) {
	first := map[string]any{"a": map[string]any{"x": 1.0}, "l": []any{map[string]any{"k": 1.0}}}
	second := map[string]any{"a": map[string]any{"y": 2.0}}
	out := Merge(first, second)
	out["l"].([]any)[0].(map[string]any)["k"] = 9.0
	if len(first["a"].(map[string]any)) != 1 || first["l"].([]any)[0].(map[string]any)["k"] != 1.0 {
		t.Fatalf("Merge changed its input: %#v", first)
	}
}
