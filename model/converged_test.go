package model_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// convTree is a project opc with environment dev, an asset web below dev
// and an asset api directly below the project.
type convTree struct {
	store                  *model.Store
	project, env, web, api *model.Node
}

func convNewTree(t *testing.T) *convTree {
	t.Helper()
	store := testutil.NewStore(t).Store
	ctx := context.Background()
	create := func(parent *model.Node, kind, code string) *model.Node {
		n, err := store.CreateNode(ctx, model.SystemActor, parent, kind, model.NodeInput{Code: code, Name: code})
		if err != nil {
			t.Fatalf("create %s %s: %v", kind, code, err)
		}
		return n
	}
	tr := &convTree{store: store}
	tr.project = create(nil, model.KindProject, "opc")
	tr.env = create(tr.project, model.KindEnvironment, "dev")
	tr.web = create(tr.env, model.KindAsset, "web")
	tr.api = create(tr.project, model.KindAsset, "api")
	return tr
}

// convSetProperties replaces node n's properties with data.
func convSetProperties(t *testing.T, store *model.Store, n *model.Node, data model.JSONMap) {
	t.Helper()
	if _, err := store.UpdatePropertySet(context.Background(), model.SystemActor, model.KindProperties, n.PropertiesID,
		model.PropertySetUpdate{Data: data}); err != nil {
		t.Fatal(err)
	}
}

// convAssign gives asset a template of code tplCode at url, with a ready
// version pinned to sha. The rows are written directly: these tests are about
// what a template version contributes, not how it is created.
func convAssign(t *testing.T, store *model.Store, project, asset *model.Node, url, tplCode, sha string) {
	t.Helper()
	now := store.Now()
	tpl := &model.Template{ID: model.NewID(), ProjectID: project.ID, Code: tplCode, Name: tplCode, URL: url, CreatedAt: now, UpdatedAt: now}
	tv := &model.TemplateVersion{ID: model.NewID(), TemplateID: tpl.ID, Version: "1.0", State: model.VersionReady,
		CreatedBy: "test", GitRev: sha, CommitSHA: &sha, CreatedAt: now, UpdatedAt: now}
	if err := store.DB.Create(tpl).Error; err != nil {
		t.Fatal(err)
	}
	if err := store.DB.Create(tv).Error; err != nil {
		t.Fatal(err)
	}
	if err := store.DB.Model(&model.Node{}).Where("id = ?", asset.ID).Update("template_version_id", tv.ID).Error; err != nil {
		t.Fatal(err)
	}
}

func convPaths(c *model.ConvergedProperties) (repo, owners []string) {
	for _, f := range c.Repository {
		repo = append(repo, f.Path)
	}
	for _, ps := range c.Properties {
		owners = append(owners, ps.Owner.Path)
	}
	return repo, owners
}

func TestConvMergeOrder(t *testing.T) {
	t.Parallel()
	tr := convNewTree(t)
	ctx := context.Background()
	repo := testgit.New(t)
	sha := repo.Commit("properties", map[string]string{
		"properties/base.yaml":                                       "layer: repo-base\nbase: true\nlist: [1, 2, 3]\nnested:\n  a: base\n  b: base\n",
		"properties/z.json":                                          `{"layer": "repo-z", "z": true}`,
		"properties/notes.txt":                                       "not a property file",
		"properties/projects/opc/p.toml":                             "layer = \"repo-project\"\n[nested]\nb = \"repo-project\"\n",
		"properties/projects/opc/environments/dev/e.yml":             "layer: repo-env\n",
		"properties/projects/opc/environments/dev/assets/web/a.json": `{"layer": "repo-asset", "list": [9]}`,
		"properties/projects/opc/assets/web/wrong.json":              `{"wrong": "project-level asset folder"}`,
		"properties/projects/other/x.json":                           `{"wrong": "other project"}`,
	})
	convAssign(t, tr.store, tr.project, tr.web, repo.URL(), "web", sha)
	convSetProperties(t, tr.store, tr.project, model.JSONMap{"layer": "db-project", "p": 1})
	convSetProperties(t, tr.store, tr.env, model.JSONMap{"layer": "db-env", "list": []any{"env"}})
	convSetProperties(t, tr.store, tr.web, model.JSONMap{"layer": "db-asset", "nested": map[string]any{"c": "asset"}})

	tests := []struct {
		name      string
		node      *model.Node
		want      model.JSONMap
		repo      []string
		owners    []string
		hasSource bool
	}{
		{"asset with template", tr.web, model.JSONMap{
			"layer": "db-asset", "base": true, "z": true, "p": 1.0, "list": []any{"env"},
			"nested": map[string]any{"a": "base", "b": "repo-project", "c": "asset"},
		}, []string{"properties/base.yaml", "properties/z.json", "properties/projects/opc/p.toml",
			"properties/projects/opc/environments/dev/e.yml", "properties/projects/opc/environments/dev/assets/web/a.json"},
			[]string{"/projects/opc", "/projects/opc/environments/dev", "/projects/opc/environments/dev/assets/web"}, true},
		{"asset without template", tr.api, model.JSONMap{"layer": "db-project", "p": 1.0},
			nil, []string{"/projects/opc", "/projects/opc/assets/api"}, false},
		{"environment", tr.env, model.JSONMap{"layer": "db-env", "p": 1.0, "list": []any{"env"}},
			nil, []string{"/projects/opc", "/projects/opc/environments/dev"}, false},
		{"project", tr.project, model.JSONMap{"layer": "db-project", "p": 1.0},
			nil, []string{"/projects/opc"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tr.store.ConvergedProperties(ctx, tt.node)
			if err != nil {
				t.Fatal(err)
			}
			repo, owners := convPaths(c)
			if !reflect.DeepEqual(c.Data, tt.want) {
				t.Errorf("data = %v, want %v", c.Data, tt.want)
			}
			if !reflect.DeepEqual(repo, tt.repo) || !reflect.DeepEqual(owners, tt.owners) {
				t.Errorf("repository %v owners %v; want %v and %v", repo, owners, tt.repo, tt.owners)
			}
			if (c.Source != nil) != tt.hasSource {
				t.Errorf("source = %v", c.Source)
			}
		})
	}
}

func TestConvRepositoryParseError(t *testing.T) {
	t.Parallel()
	tr := convNewTree(t)
	repo := testgit.New(t)
	sha := repo.Commit("broken", map[string]string{
		"properties/ok.json":             `{"a": 1}`,
		"properties/projects/opc/b.yaml": "a: 1\nb: [1, 2\nc: 3\n",
	})
	convAssign(t, tr.store, tr.project, tr.api, repo.URL(), "api", sha)
	_, err := tr.store.ConvergedProperties(context.Background(), tr.api)
	e := steward.AsError(err)
	if e.Kind != steward.KindInvalid || e.Code != "invalid_repository_properties" ||
		!strings.Contains(e.Detail, "properties/projects/opc/b.yaml line 3") || e.Meta["line"] != 3 ||
		e.Meta["file"] != "properties/projects/opc/b.yaml" || e.Meta["commit_sha"] != sha {
		t.Fatalf("got %#v", e)
	}
}

func TestConvUnreachableTemplateRemote(t *testing.T) {
	t.Parallel()
	tr := convNewTree(t)
	sha := strings.Repeat("a", 40)
	convAssign(t, tr.store, tr.project, tr.api, "file:///nonexistent/steward-conv-repo", "api", sha)
	_, err := tr.store.ConvergedProperties(context.Background(), tr.api)
	if e := steward.AsError(err); e.Kind != steward.KindInvalid || !strings.HasPrefix(e.Code, "git_") {
		t.Fatalf("got %#v", e)
	}
}
