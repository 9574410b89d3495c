package bench

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	gjsonapi "github.com/google/jsonapi"

	"github.com/stewardhq/steward/pkg/jsonapi"
)

// The document under test: 100 projects, each with one environment in included,
// shaped like GET /api/projects?include=children.

type plainAttrs struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Archived    bool    `json:"archived"`
	ProjectType string  `json:"project_type"`
}

type plainIdent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type plainToOne struct {
	Data  plainIdent        `json:"data"`
	Links map[string]string `json:"links"`
}

type plainToMany struct {
	Data []plainIdent `json:"data"`
}

type plainRels struct {
	Properties plainToOne  `json:"properties"`
	Settings   plainToOne  `json:"settings"`
	Parents    plainToMany `json:"parents"`
	Children   plainToMany `json:"children"`
	Bookmarks  plainToMany `json:"bookmarks"`
}

type plainResource struct {
	Type          string            `json:"type"`
	ID            string            `json:"id"`
	Attributes    plainAttrs        `json:"attributes"`
	Relationships plainRels         `json:"relationships"`
	Links         map[string]string `json:"links"`
	Meta          map[string]any    `json:"meta"`
}

type plainDoc struct {
	Data     []plainResource `json:"data"`
	Included []plainResource `json:"included"`
}

// gProject is the same resource for google/jsonapi's reflective marshaller.
type gProject struct {
	ID          string      `jsonapi:"primary,project"`
	Code        string      `jsonapi:"attr,code"`
	Name        string      `jsonapi:"attr,name"`
	Description *string     `jsonapi:"attr,description"`
	Archived    bool        `jsonapi:"attr,archived"`
	ProjectType string      `jsonapi:"attr,project_type"`
	Children    []*gProject `jsonapi:"relation,children"`
}

func (p *gProject) JSONAPILinks() *gjsonapi.Links {
	return &gjsonapi.Links{"self": "/api/projects/" + p.Code, "environments": "/api/projects/" + p.Code + "/environments"}
}

const listSize = 100

func meta() map[string]any {
	rw := map[string]bool{"read": true, "update": true}
	return map[string]any{"can_have_changes": true, "can_have_children": true, "child_node_types": []string{"environment", "asset"},
		"authorisations": map[string]any{"properties": rw, "settings": rw, "self": map[string]bool{"update": true}}}
}

func links(code string) map[string]string {
	self := "/api/projects/" + code
	return map[string]string{"self": self, "bookmarks": self + "/bookmarks", "changes": self + "/changes", "environments": self + "/environments", "assets": self + "/assets"}
}

func stewardDoc() (jsonapi.Document, *jsonapi.Query) {
	desc := "a project"
	m := meta()
	var data, included []*jsonapi.Resource
	for i := 0; i < listSize; i++ {
		id, envID := fmt.Sprintf("0190a0b0-0000-7000-8000-%012d", i), fmt.Sprintf("0190a0b0-0000-7000-9000-%012d", i)
		code := fmt.Sprintf("p%d", i)
		rels := func(children []jsonapi.Identifier) map[string]*jsonapi.Relationship {
			return map[string]*jsonapi.Relationship{
				"properties": jsonapi.ToOne("properties", id, "/api/properties/"+id),
				"settings":   jsonapi.ToOne("settings", id, "/api/settings/"+id),
				"parents":    jsonapi.ToMany(nil), "children": jsonapi.ToMany(children), "bookmarks": jsonapi.ToMany(nil),
			}
		}
		data = append(data, &jsonapi.Resource{Type: "project", ID: id, Links: links(code), Meta: m,
			Attributes:    &plainAttrs{Code: code, Name: "Project " + code, Description: &desc, ProjectType: "Standard"},
			Relationships: rels([]jsonapi.Identifier{{Type: "environment", ID: envID}})})
		included = append(included, &jsonapi.Resource{Type: "environment", ID: envID, Links: links(code + "e"), Meta: m,
			Attributes:    &plainAttrs{Code: "dev", Name: "Dev", Description: &desc},
			Relationships: rels(nil)})
	}
	q := &jsonapi.Query{Include: []string{"children"}}
	return jsonapi.Document{Data: data, Included: included}, q
}

func plain() plainDoc {
	desc := "a project"
	m := meta()
	var doc plainDoc
	for i := 0; i < listSize; i++ {
		id, envID := fmt.Sprintf("0190a0b0-0000-7000-8000-%012d", i), fmt.Sprintf("0190a0b0-0000-7000-9000-%012d", i)
		code := fmt.Sprintf("p%d", i)
		rels := func(children []plainIdent) plainRels {
			return plainRels{
				Properties: plainToOne{Data: plainIdent{"properties", id}, Links: map[string]string{"related": "/api/properties/" + id}},
				Settings:   plainToOne{Data: plainIdent{"settings", id}, Links: map[string]string{"related": "/api/settings/" + id}},
				Parents:    plainToMany{Data: []plainIdent{}}, Children: plainToMany{Data: children}, Bookmarks: plainToMany{Data: []plainIdent{}},
			}
		}
		doc.Data = append(doc.Data, plainResource{Type: "project", ID: id, Links: links(code), Meta: m,
			Attributes:    plainAttrs{Code: code, Name: "Project " + code, Description: &desc, ProjectType: "Standard"},
			Relationships: rels([]plainIdent{{"environment", envID}})})
		doc.Included = append(doc.Included, plainResource{Type: "environment", ID: envID, Links: links(code + "e"), Meta: m,
			Attributes: plainAttrs{Code: "dev", Name: "Dev", Description: &desc}, Relationships: rels([]plainIdent{})})
	}
	return doc
}

// BenchmarkRenderList is the target: Steward's renderer within 2x of encoding/json.
func BenchmarkRenderList(b *testing.B) {
	b.Run("steward", func(b *testing.B) {
		doc, q := stewardDoc()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := jsonapi.Encode(doc, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		doc := plain()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := json.Marshal(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("google_jsonapi", func(b *testing.B) {
		desc := "a project"
		var ps []*gProject
		for i := 0; i < listSize; i++ {
			ps = append(ps, &gProject{ID: fmt.Sprintf("0190a0b0-0000-7000-8000-%012d", i), Code: fmt.Sprintf("p%d", i), Name: "P", Description: &desc,
				Children: []*gProject{{ID: fmt.Sprintf("0190a0b0-0000-7000-9000-%012d", i), Code: "dev", Name: "Dev", Description: &desc}}})
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			payload, err := gjsonapi.Marshal(ps)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRenderRatio prints the ratio the target is stated in (figures only; no
// wall-clock assertion, as timings vary by machine and load).
func TestRenderRatio(t *testing.T) {
	if testing.Short() || !testing.Verbose() {
		t.Skip("figures only: run with -v")
	}
	s := testing.Benchmark(func(b *testing.B) {
		doc, q := stewardDoc()
		for i := 0; i < b.N; i++ {
			_, _ = jsonapi.Encode(doc, q)
		}
	})
	p := testing.Benchmark(func(b *testing.B) {
		doc := plain()
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(doc)
		}
	})
	t.Logf("render 100 resources + 100 included: steward %v/op, encoding/json %v/op, ratio %.2f",
		time.Duration(s.NsPerOp()), time.Duration(p.NsPerOp()), float64(s.NsPerOp())/float64(p.NsPerOp()))
}
