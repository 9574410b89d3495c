package handler_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/converge"
)

const (
	convProject = "/api/projects/opc"
	convEnv     = convProject + "/environments/dev"
	convWeb     = convEnv + "/assets/web" // below the environment
	convAPI     = convProject + "/assets/api"
)

// convServer builds project opc, environment dev, asset web below dev and
// asset api below the project, and returns their properties ids by path.
func convServer(t *testing.T) (*testutil.Server, map[string]string) {
	t.Helper()
	s := testutil.NewServer(t)
	props := map[string]string{}
	for _, n := range []struct{ collection, typ, code, path string }{
		{"/api/projects", "project", "opc", convProject},
		{convProject + "/environments", "environment", "dev", convEnv},
		{convEnv + "/assets", "asset", "web", convWeb},
		{convProject + "/assets", "asset", "api", convAPI},
	} {
		props[n.path], _ = propsNode(t, s, n.collection, n.typ, n.code)
	}
	return s, props
}

func convPatchProperties(t *testing.T, s *testutil.Server, id string, data map[string]any) {
	t.Helper()
	s.Patch(t, "/api/properties/"+id, testutil.Attrs("properties", map[string]any{"data": data})).Expect(t, http.StatusOK)
}

// convAssign gives the asset at path a ready template version at commit sha
// of url, writing the rows directly: these tests are about what a template
// version contributes, not how one is created.
func convAssign(t *testing.T, s *testutil.Server, path, url, code, sha string) {
	t.Helper()
	ctx := context.Background()
	asset, err := s.Store.NodeByPath(ctx, strings.TrimPrefix(path, "/api"))
	if err != nil {
		t.Fatal(err)
	}
	now := s.Store.Now()
	tpl := &model.Template{ID: model.NewID(), ProjectID: *asset.ProjectID, Code: code, Name: code, URL: url, CreatedAt: now, UpdatedAt: now}
	// has_mintmodel as the resolver would find it at that commit.
	_, readErr := s.Store.Git.ReadFile(ctx, gitops.Remote{URL: url}, sha, converge.MintModelPath(code))
	hasMintModel := readErr == nil
	tv := &model.TemplateVersion{ID: model.NewID(), TemplateID: tpl.ID, Version: "1.0", State: model.VersionReady,
		CreatedBy: "test", GitRev: sha, CommitSHA: &sha, HasMintmodel: &hasMintModel, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.DB.Create(tpl).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Store.DB.Create(tv).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Store.DB.Model(&model.Node{}).Where("id = ?", asset.ID).Update("template_version_id", tv.ID).Error; err != nil {
		t.Fatal(err)
	}
}

// convIDs lists the ids of related resources, [] for none.
func convIDs[T any](items []*T) []string {
	return append([]string{}, testutil.IDs(items)...)
}

// convIncluded counts included resources by type.
func convIncluded(t *testing.T, doc map[string]any) map[string]int {
	t.Helper()
	out := map[string]int{}
	inc, ok := doc["included"].([]any)
	if !ok {
		t.Fatalf("no included in %v", doc)
	}
	for _, r := range inc {
		out[r.(map[string]any)["type"].(string)]++
	}
	return out
}

func TestConvergedPropertiesEndpoint(t *testing.T) {
	t.Parallel()
	s, props := convServer(t)
	repo := testgit.New(t)
	sha := repo.Commit("properties", map[string]string{
		"properties/base.yaml":                                         "layer: repo\nlist: [1, 2]\nnested:\n  a: repo\n  b: repo\n",
		"properties/projects/opc/project.toml":                         "tier = \"gold\"\n",
		"properties/projects/opc/other.json":                           `{"nested": {"b": "repo-project"}}`,
		"properties/projects/opc/environments/dev/assets/web/web.json": `{"list": [3]}`,
	})
	convAssign(t, s, convWeb, repo.URL(), "web", sha)
	convPatchProperties(t, s, props[convProject], map[string]any{"layer": "project", "p": true})
	convPatchProperties(t, s, props[convEnv], map[string]any{"e": true, "list": []any{"env"}})
	convPatchProperties(t, s, props[convWeb], map[string]any{"layer": "asset", "nested": map[string]any{"c": "asset"}})

	tests := []struct {
		name, path string
		want       map[string]any
		repo       []string
		props      []string
	}{
		{"environment asset", convWeb, map[string]any{
			"layer": "asset", "tier": "gold", "p": true, "e": true, "list": []any{"env"},
			"nested": map[string]any{"a": "repo", "b": "repo-project", "c": "asset"},
		}, []string{"properties/base.yaml", "properties/projects/opc/other.json", "properties/projects/opc/project.toml",
			"properties/projects/opc/environments/dev/assets/web/web.json"},
			[]string{props[convProject], props[convEnv], props[convWeb]}},
		{"asset without template", convAPI, map[string]any{"layer": "project", "p": true},
			[]string{}, []string{props[convProject], props[convAPI]}},
		{"environment", convEnv, map[string]any{"layer": "project", "p": true, "e": true, "list": []any{"env"}},
			[]string{}, []string{props[convProject], props[convEnv]}},
		{"project", convProject, map[string]any{"layer": "project", "p": true},
			[]string{}, []string{props[convProject]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.Get(t, tt.path+"/converged_properties").Expect(t, http.StatusOK)
			doc := resp.JSON(t)
			d := resp.Data(t)
			c := testutil.One[testutil.ConvergedProperties](t, resp)
			if c.ID != tt.path[strings.LastIndex(tt.path, "/")+1:] || d["links"].(map[string]any)["self"] != tt.path+"/converged_properties" {
				t.Fatalf("resource %v", d)
			}
			if got := c.Data; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("data = %v, want %v", got, tt.want)
			}
			if got := convIDs(c.RepositoryProperties); !reflect.DeepEqual(got, tt.repo) {
				t.Errorf("repository_properties = %v, want %v", got, tt.repo)
			}
			if got := convIDs(c.Properties); !reflect.DeepEqual(got, tt.props) {
				t.Errorf("properties = %v, want %v", got, tt.props)
			}
			if got := convIncluded(t, doc); got["properties"] != len(tt.props) || got["repository_properties"] != len(tt.repo) {
				t.Errorf("included %v", got)
			}
		})
	}

	t.Run("repository file rendered", func(t *testing.T) {
		const file = "properties/projects/opc/project.toml"
		resp := s.Get(t, convWeb+"/converged_properties").Expect(t, http.StatusOK)
		// The content through the relationship, resolved from included; the
		// link (which google/jsonapi drops) from the raw included resource.
		var links map[string]any
		for _, r := range resp.JSON(t)["included"].([]any) {
			if res := r.(map[string]any); res["id"] == file {
				links, _ = res["links"].(map[string]any)
			}
		}
		if links == nil {
			t.Fatal("project.toml is not included")
		}
		for _, rp := range testutil.One[testutil.ConvergedProperties](t, resp).RepositoryProperties {
			if rp.ID == file {
				if !reflect.DeepEqual(rp.Content, map[string]any{"tier": "gold"}) || links["repository_path"] != file {
					t.Fatalf("repository_properties %+v, links %v", rp, links)
				}
				return
			}
		}
		t.Fatal("project.toml is not in the repository_properties relationship")
	})
	t.Run("include narrows included", func(t *testing.T) {
		doc := s.Get(t, convWeb+"/converged_properties?include=properties").Expect(t, http.StatusOK).JSON(t)
		if got := convIncluded(t, doc); got["properties"] != 3 || got["repository_properties"] != 0 {
			t.Fatalf("included %v", got)
		}
	})
}

func TestConvergedPropertiesErrors(t *testing.T) {
	t.Parallel()
	s, _ := convServer(t)
	repo := testgit.New(t)
	sha := repo.Commit("broken", map[string]string{
		"properties/projects/opc/assets/api/bad.json": "{\n  \"a\": 1,\n  \"b\": }\n",
	})
	convAssign(t, s, convAPI, repo.URL(), "api", sha)
	tests := []struct {
		name, path string
		status     int
		detail     string
		param      string
	}{
		{"parse error names file and line", convAPI + "/converged_properties", http.StatusUnprocessableEntity,
			"properties/projects/opc/assets/api/bad.json line 3", ""},
		{"filter refused", convWeb + "/converged_properties?filter[data_eq]=x", http.StatusBadRequest, "", "filter[data_eq]"},
		{"unknown include", convWeb + "/converged_properties?include=nodes", http.StatusBadRequest, "", "include"},
		{"unknown asset", convEnv + "/assets/nope/converged_properties", http.StatusNotFound, "", ""},
		{"unknown environment", convProject + "/environments/nope/converged_properties", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.Get(t, tt.path).Expect(t, tt.status).ErrorObject(t)
			if !strings.Contains(e["detail"].(string), tt.detail) {
				t.Errorf("detail %q does not contain %q", e["detail"], tt.detail)
			}
			if tt.param != "" && e["source"].(map[string]any)["parameter"] != tt.param {
				t.Errorf("source %v, want parameter %q", e["source"], tt.param)
			}
		})
	}
	if e := s.Get(t, convAPI+"/converged_properties").ErrorObject(t); e["code"] != "invalid_repository_properties" ||
		e["meta"].(map[string]any)["line"] != 3.0 {
		t.Fatalf("error %v", e)
	}
}
