package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	gjsonapi "github.com/google/jsonapi"

	"github.com/stewardhq/steward/pkg/jsonapi"
)

// The document under test, rendered three ways: 100 projects, each with one
// environment in included (shaped like GET /api/projects?include=children):
// attributes, links, meta, and parents/children/bookmarks relationships.
// TestRenderSameDocument proves the three render the same document.
//
// The server's project also has properties and settings relationships: to-one
// linkage to resources that are not included. google/jsonapi cannot render
// that (it puts the target of every relationship it renders into included),
// so those two are left out on all three sides.

type projectAttrs struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Archived    bool    `json:"archived"`
	ProjectType string  `json:"project_type"`
}

type environmentAttrs struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Archived    bool    `json:"archived"`
}

type plainIdent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type plainToMany struct {
	Data []plainIdent `json:"data"`
}

type plainRels struct {
	Parents   plainToMany `json:"parents"`
	Children  plainToMany `json:"children"`
	Bookmarks plainToMany `json:"bookmarks"`
}

type plainResource struct {
	Type          string            `json:"type"`
	ID            string            `json:"id"`
	Attributes    any               `json:"attributes"`
	Relationships plainRels         `json:"relationships"`
	Links         map[string]string `json:"links"`
	Meta          map[string]any    `json:"meta"`
}

type plainDoc struct {
	Data     []plainResource `json:"data"`
	Included []plainResource `json:"included"`
}

// gProject and gEnvironment are the same resources for google/jsonapi's
// reflective marshaller; links and meta are built once, as on the other sides.
type gProject struct {
	ID          string          `jsonapi:"primary,project"`
	Code        string          `jsonapi:"attr,code"`
	Name        string          `jsonapi:"attr,name"`
	Description *string         `jsonapi:"attr,description"`
	Archived    bool            `jsonapi:"attr,archived"`
	ProjectType string          `jsonapi:"attr,project_type"`
	Parents     []*gRef         `jsonapi:"relation,parents"`
	Children    []*gEnvironment `jsonapi:"relation,children"`
	Bookmarks   []*gRef         `jsonapi:"relation,bookmarks"`
	links       gjsonapi.Links
	meta        gjsonapi.Meta
}

type gEnvironment struct {
	ID          string  `jsonapi:"primary,environment"`
	Code        string  `jsonapi:"attr,code"`
	Name        string  `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	Archived    bool    `jsonapi:"attr,archived"`
	Parents     []*gRef `jsonapi:"relation,parents"`
	Children    []*gRef `jsonapi:"relation,children"`
	Bookmarks   []*gRef `jsonapi:"relation,bookmarks"`
	links       gjsonapi.Links
	meta        gjsonapi.Meta
}

// gRef is the element type of the empty to-many relationships.
type gRef struct {
	ID string `jsonapi:"primary,bookmark"`
}

func (p *gProject) JSONAPILinks() *gjsonapi.Links     { return &p.links }
func (p *gProject) JSONAPIMeta() *gjsonapi.Meta       { return &p.meta }
func (e *gEnvironment) JSONAPILinks() *gjsonapi.Links { return &e.links }
func (e *gEnvironment) JSONAPIMeta() *gjsonapi.Meta   { return &e.meta }

const listSize = 100

func meta() map[string]any {
	rw := map[string]bool{"read": true, "update": true}
	return map[string]any{"can_have_changes": true, "can_have_children": true, "child_node_types": []string{"environment", "asset"},
		"authorisations": map[string]any{"properties": rw, "settings": rw, "self": map[string]bool{"update": true}}}
}

func links(self string) map[string]string {
	return map[string]string{"self": self, "bookmarks": self + "/bookmarks", "changes": self + "/changes", "assets": self + "/assets"}
}

// fixture is one project of the document and its environment.
type fixture struct {
	id, envID, code, projectPath, envPath string
}

func fixtures() []fixture {
	out := make([]fixture, listSize)
	for i := range out {
		code := fmt.Sprintf("p%d", i)
		out[i] = fixture{id: fmt.Sprintf("0190a0b0-0000-7000-8000-%012d", i), envID: fmt.Sprintf("0190a0b0-0000-7000-9000-%012d", i),
			code: code, projectPath: "/api/projects/" + code, envPath: "/api/projects/" + code + "/environments/dev"}
	}
	return out
}

var description = "a project"

func stewardDoc() (jsonapi.Document, *jsonapi.Query) {
	m := meta()
	var data, included []*jsonapi.Resource
	for _, f := range fixtures() {
		rels := func(children []jsonapi.Identifier) map[string]*jsonapi.Relationship {
			return map[string]*jsonapi.Relationship{
				"parents": jsonapi.ToMany(nil), "children": jsonapi.ToMany(children), "bookmarks": jsonapi.ToMany(nil),
			}
		}
		data = append(data, &jsonapi.Resource{Type: "project", ID: f.id, Links: links(f.projectPath), Meta: m,
			Attributes:    &projectAttrs{Code: f.code, Name: "Project " + f.code, Description: &description, ProjectType: "Standard"},
			Relationships: rels([]jsonapi.Identifier{{Type: "environment", ID: f.envID}})})
		included = append(included, &jsonapi.Resource{Type: "environment", ID: f.envID, Links: links(f.envPath), Meta: m,
			Attributes:    &environmentAttrs{Code: "dev", Name: "Dev", Description: &description},
			Relationships: rels(nil)})
	}
	q := &jsonapi.Query{Include: []string{"children"}}
	return jsonapi.Document{Data: data, Included: included}, q
}

func plain() plainDoc {
	m := meta()
	var doc plainDoc
	for _, f := range fixtures() {
		rels := func(children []plainIdent) plainRels {
			return plainRels{Parents: plainToMany{Data: []plainIdent{}}, Children: plainToMany{Data: children},
				Bookmarks: plainToMany{Data: []plainIdent{}}}
		}
		doc.Data = append(doc.Data, plainResource{Type: "project", ID: f.id, Links: links(f.projectPath), Meta: m,
			Attributes:    &projectAttrs{Code: f.code, Name: "Project " + f.code, Description: &description, ProjectType: "Standard"},
			Relationships: rels([]plainIdent{{"environment", f.envID}})})
		doc.Included = append(doc.Included, plainResource{Type: "environment", ID: f.envID, Links: links(f.envPath), Meta: m,
			Attributes: &environmentAttrs{Code: "dev", Name: "Dev", Description: &description}, Relationships: rels([]plainIdent{})})
	}
	return doc
}

func google() []*gProject {
	m := gjsonapi.Meta(meta())
	gl := func(self string) gjsonapi.Links {
		out := gjsonapi.Links{}
		for k, v := range links(self) {
			out[k] = v
		}
		return out
	}
	var ps []*gProject
	for _, f := range fixtures() {
		env := &gEnvironment{ID: f.envID, Code: "dev", Name: "Dev", Description: &description, links: gl(f.envPath), meta: m}
		ps = append(ps, &gProject{ID: f.id, Code: f.code, Name: "Project " + f.code, Description: &description, ProjectType: "Standard",
			Children: []*gEnvironment{env}, links: gl(f.projectPath), meta: m})
	}
	return ps
}

func renderSteward(doc jsonapi.Document, q *jsonapi.Query) ([]byte, error) {
	return jsonapi.Encode(doc, q)
}

func renderPlain(doc plainDoc) ([]byte, error) { return json.Marshal(doc) }

// renderGoogle is what MarshalPayload does, into a buffer.
func renderGoogle(ps []*gProject) ([]byte, error) {
	payload, err := gjsonapi.Marshal(ps)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = json.NewEncoder(&buf).Encode(payload)
	return buf.Bytes(), err
}

// BenchmarkRenderList is the target: Steward's renderer within 2x of
// encoding/json on the same document; google/jsonapi is measured beside them.
func BenchmarkRenderList(b *testing.B) {
	b.Run("steward", func(b *testing.B) {
		doc, q := stewardDoc()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := renderSteward(doc, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		doc := plain()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := renderPlain(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("google_jsonapi", func(b *testing.B) {
		ps := google()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := renderGoogle(ps); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// canonical decodes a document with included sorted by type and id
// (google/jsonapi orders it by map iteration).
func canonical(t *testing.T, name string, body []byte, err error) map[string]any {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	inc, _ := doc["included"].([]any)
	key := func(i int) string {
		r := inc[i].(map[string]any)
		return fmt.Sprint(r["type"], "/", r["id"])
	}
	sort.SliceStable(inc, func(i, j int) bool { return key(i) < key(j) })
	return doc
}

// TestRenderSameDocument: the three renderers measured produce one document.
func TestRenderSameDocument(t *testing.T) {
	body, err := renderSteward(stewardDoc())
	ours := canonical(t, "steward", body, err)
	if n := len(ours["data"].([]any)); n != listSize || len(ours["included"].([]any)) != listSize {
		t.Fatalf("steward renders %d resources and %d included", n, len(ours["included"].([]any)))
	}
	plainBody, plainErr := renderPlain(plain())
	googleBody, googleErr := renderGoogle(google())
	for name, other := range map[string]map[string]any{
		"encoding/json":  canonical(t, "encoding/json", plainBody, plainErr),
		"google/jsonapi": canonical(t, "google/jsonapi", googleBody, googleErr),
	} {
		if !reflect.DeepEqual(ours, other) {
			t.Errorf("%s renders another document: %s", name, firstDifference(ours, other))
		}
	}
}

// firstDifference names the first member of data or included that differs.
func firstDifference(a, b map[string]any) string {
	for _, member := range []string{"data", "included"} {
		x, _ := a[member].([]any)
		y, _ := b[member].([]any)
		for i := 0; i < len(x) || i < len(y); i++ {
			var p, q any
			if i < len(x) {
				p = x[i]
			}
			if i < len(y) {
				q = y[i]
			}
			if !reflect.DeepEqual(p, q) {
				pj, _ := json.Marshal(p)
				qj, _ := json.Marshal(q)
				return fmt.Sprintf("%s[%d]:\n  steward: %s\n  other:   %s", member, i, pj, qj)
			}
		}
	}
	return "top-level members differ"
}

// TestRenderRatio prints the figures and the ratios the targets are stated
// in (no wall-clock assertion: timings vary by machine and load).
func TestRenderRatio(t *testing.T) {
	if testing.Short() || !testing.Verbose() {
		t.Skip("figures only: run with -v")
	}
	s := testing.Benchmark(func(b *testing.B) {
		doc, q := stewardDoc()
		for i := 0; i < b.N; i++ {
			_, _ = renderSteward(doc, q)
		}
	})
	p := testing.Benchmark(func(b *testing.B) {
		doc := plain()
		for i := 0; i < b.N; i++ {
			_, _ = renderPlain(doc)
		}
	})
	g := testing.Benchmark(func(b *testing.B) {
		ps := google()
		for i := 0; i < b.N; i++ {
			_, _ = renderGoogle(ps)
		}
	})
	t.Logf("render %d resources + %d included: steward %v/op, encoding/json %v/op, google/jsonapi %v/op",
		listSize, listSize, time.Duration(s.NsPerOp()), time.Duration(p.NsPerOp()), time.Duration(g.NsPerOp()))
	t.Logf("ratios: steward/encoding_json %.2f, steward/google_jsonapi %.2f",
		float64(s.NsPerOp())/float64(p.NsPerOp()), float64(s.NsPerOp())/float64(g.NsPerOp()))
}
