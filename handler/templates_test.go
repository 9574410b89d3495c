package handler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
)

const (
	tmplColl     = "/api/projects/opc/templates"
	tmplPassword = "tmpl-password-do-not-show"
	tmplActions  = "actions:\n  build:\n    description: Build it\n    run: make\n  deploy:\n    description: Ship it\n    steps: [build]\n"
)

// tmplEnv is a server with project opc, environment dev, assets and a
// repository carrying actions.yaml.
type tmplEnv struct {
	s    *testutil.Server
	repo *testgit.GitRepo
	sha  string
}

func tmplServer(t *testing.T) *tmplEnv {
	t.Helper()
	s := testutil.NewServer(t)
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/opc/environments", testutil.Attrs("environment", map[string]any{"code": "dev", "name": "Dev"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/opc/assets", testutil.Attrs("asset", map[string]any{"code": "soa", "name": "SOA"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/opc/environments/dev/assets", testutil.Attrs("asset", map[string]any{"code": "db", "name": "DB"})).Expect(t, http.StatusCreated)
	repo := testgit.New(t)
	sha := repo.Commit("first", map[string]string{"actions.yaml": tmplActions})
	return &tmplEnv{s: s, repo: repo, sha: sha}
}

// do sends req and fails when the response body holds the template password.
func (e *tmplEnv) do(t *testing.T, method, path string, body any) *testutil.Response {
	t.Helper()
	r := e.s.Do(t, testutil.Request{Method: method, Path: path, Body: body})
	if strings.Contains(string(r.Body), tmplPassword) {
		t.Fatalf("%s %s leaks the template password: %s", method, path, r.Body)
	}
	return r
}

func (e *tmplEnv) createTemplate(t *testing.T) {
	t.Helper()
	e.do(t, "POST", tmplColl, testutil.Attrs("template", map[string]any{
		"code": "web", "name": "Web template", "description": nil, "url": e.repo.URL(),
		"user": "bot", "password": tmplPassword, "ssh_key_data": nil,
	})).Expect(t, http.StatusCreated)
}

// putVersion writes a version and runs the resolver as serve would.
func (e *tmplEnv) putVersion(t *testing.T, version, rev string) *testutil.TemplateVersion {
	t.Helper()
	d := testutil.One[testutil.TemplateVersion](t, e.do(t, "PUT", tmplColl+"/web/versions/"+version, testutil.Attrs("template_version", map[string]any{
		"git_rev": rev, "description": "v " + version})).Expect(t, http.StatusOK))
	if st := d.State; st != "initializing" {
		t.Fatalf("PUT answered state %v, want initializing", st)
	}
	if err := e.s.Store.ResolvePendingTemplateVersions(context.Background()); err != nil {
		t.Fatal(err)
	}
	return testutil.One[testutil.TemplateVersion](t, e.do(t, "GET", tmplColl+"/web/versions/"+version, nil).Expect(t, http.StatusOK))
}

// template reads the template web.
func (e *tmplEnv) template(t *testing.T) *testutil.Template {
	t.Helper()
	return testutil.One[testutil.Template](t, e.do(t, "GET", tmplColl+"/web", nil).Expect(t, http.StatusOK))
}

func TestTemplateLifecycle(t *testing.T) {
	t.Parallel()
	e := tmplServer(t)
	e.createTemplate(t)

	a := e.template(t)
	if testutil.Str(a.User) != "{{hidden}}" || testutil.Str(a.Password) != "{{hidden}}" || a.SSHKeyData != nil || a.Code != "web" {
		t.Fatalf("template attributes %+v", a)
	}
	if list := testutil.Many[testutil.Template](t, e.do(t, "GET", tmplColl, nil).Expect(t, http.StatusOK)); len(list) != 1 {
		t.Fatalf("list has %d templates", len(list))
	}

	va := e.putVersion(t, "v1", "main")
	if va.State != "ready" || testutil.Str(va.CommitSHA) != e.sha || len(va.Actions) != 2 || va.HasMintmodel == nil || *va.HasMintmodel {
		t.Fatalf("resolved version %+v", va)
	}
	if ids := e.template(t).TemplateVersions; len(ids) != 1 {
		t.Fatalf("template_versions relationship %+v", ids)
	}
	if list := testutil.Many[testutil.TemplateVersion](t, e.do(t, "GET", tmplColl+"/web/versions?filter[state_eq]=ready", nil).Expect(t, http.StatusOK)); len(list) != 1 {
		t.Fatalf("ready versions: %d", len(list))
	}

	// Credentials change; archive, then a new version is refused.
	e.do(t, "PATCH", tmplColl+"/web", testutil.Attrs("template", map[string]any{"user": nil})).Expect(t, http.StatusOK)
	got := testutil.One[testutil.Template](t, e.do(t, "PATCH", tmplColl+"/web", testutil.Attrs("template", map[string]any{"archived": true})).Expect(t, http.StatusOK))
	if !got.Archived || got.User != nil || testutil.Str(got.Password) != "{{hidden}}" {
		t.Fatalf("after patches: %+v", got)
	}
	e.do(t, "PUT", tmplColl+"/web/versions/v2", testutil.Attrs("template_version", map[string]any{"git_rev": "main"})).Expect(t, http.StatusUnprocessableEntity)

	events := e.do(t, "GET", "/api/events?limit=100", nil).Expect(t, http.StatusOK)
	if !strings.Contains(string(events.Body), "api:template_versions:ready") {
		t.Fatalf("no ready event in %s", events.Body)
	}
}

func TestTemplateAssignAndHistory(t *testing.T) {
	t.Parallel()
	e := tmplServer(t)
	e.createTemplate(t)
	v1 := e.putVersion(t, "v1", "main")
	e.repo.Commit("second", map[string]string{"actions.yaml": "actions:\n  only:\n    description: One\n"})
	v2 := e.putVersion(t, "v2", "main")
	assign := func(version string, paths ...string) *testutil.Response {
		return e.do(t, "POST", tmplColl+"/web/versions/"+version+"/assign_to_assets",
			testutil.Attrs("template_version", map[string]any{"asset_paths": paths}))
	}

	errObj := assign("v1", "/projects/opc/assets/soa", "/projects/opc/assets/ghost").Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if !strings.Contains(errObj["detail"].(string), "/projects/opc/assets/ghost") {
		t.Fatalf("error does not name the unknown asset: %v", errObj)
	}
	assign("v1", "/projects/opc/assets/soa", "/projects/opc/environments/dev/assets/db").Expect(t, http.StatusOK)
	assign("v2", "/projects/opc/environments/dev/assets/db").Expect(t, http.StatusOK)

	// A used version keeps its rev.
	e.do(t, "PUT", tmplColl+"/web/versions/v1", testutil.Attrs("template_version", map[string]any{"git_rev": e.sha[:7]})).
		Expect(t, http.StatusUnprocessableEntity)

	assetResp := e.do(t, "GET", "/api/projects/opc/environments/dev/assets/db", nil).Expect(t, http.StatusOK)
	asset := testutil.One[testutil.Asset](t, assetResp)
	if asset.TemplateVersion == nil || asset.TemplateVersion.ID != v2.ID ||
		asset.Template == nil || len(asset.Actions) != 1 {
		t.Fatalf("asset %s", assetResp.Body)
	}

	histResp := e.do(t, "GET", "/api/projects/opc/environments/dev/assets/db/version_history", nil).Expect(t, http.StatusOK)
	hist := testutil.Many[testutil.TemplateVersionHistory](t, histResp)
	if len(hist) != 2 {
		t.Fatalf("history has %d rows", len(hist))
	}
	first := hist[0]
	if first.ActiveTo == nil || first.TemplateVersion == nil || first.TemplateVersion.ID != v1.ID {
		t.Fatalf("first period %+v", first)
	}
	self := histResp.List(t)[0].(map[string]any)["links"].(map[string]any)["self"].(string)
	show := e.do(t, "GET", self, nil).Expect(t, http.StatusOK).JSON(t)
	if inc := show["included"].([]any); len(inc) != 2 {
		t.Fatalf("show includes %d resources, want asset and version", len(inc))
	}
	e.do(t, "GET", "/api/projects/opc/assets/soa/version_history?include=template_version", nil).Expect(t, http.StatusOK)
	e.do(t, "GET", "/api/projects/opc/assets/soa/version_history/"+first.ID, nil).Expect(t, http.StatusNotFound)
}

func TestTemplateAssetCreate(t *testing.T) {
	t.Parallel()
	e := tmplServer(t)
	e.createTemplate(t)
	e.putVersion(t, "v1", "main")
	create := func(attrs map[string]any) *testutil.Response {
		attrs["name"] = "X"
		return e.do(t, "POST", "/api/projects/opc/assets", testutil.Attrs("asset", attrs))
	}
	for _, c := range []struct {
		tpl, version, pointer string
	}{
		{"ghost", "v1", "/data/attributes/template_name"},
		{"web", "v9", "/data/attributes/template_version"},
	} {
		e := create(map[string]any{"code": "x", "template_name": c.tpl, "template_version": c.version}).
			Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
		if e["source"].(map[string]any)["pointer"] != c.pointer {
			t.Errorf("%s/%s: error %v", c.tpl, c.version, e)
		}
	}
	d := testutil.One[testutil.Asset](t, create(map[string]any{"code": "x", "template_name": "Web template", "template_version": "v1"}).Expect(t, http.StatusCreated))
	if len(d.Actions) != 2 {
		t.Fatalf("created asset %+v", d)
	}
	if h := testutil.Many[testutil.TemplateVersionHistory](t, e.do(t, "GET", "/api/projects/opc/assets/x/version_history", nil).Expect(t, http.StatusOK)); len(h) != 1 {
		t.Fatalf("history after create: %+v", h)
	}
}

func TestTemplateRefusals(t *testing.T) {
	t.Parallel()
	e := tmplServer(t)
	e.createTemplate(t)
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		pointer            string
	}{
		{"slash in code", "POST", tmplColl, testutil.Attrs("template", map[string]any{"code": "a/b", "name": "x", "url": e.repo.URL()}), 422, "/data/attributes/code"},
		{"duplicate code", "POST", tmplColl, testutil.Attrs("template", map[string]any{"code": "web", "name": "x", "url": e.repo.URL()}), 422, "/data/attributes/code"},
		{"ext url", "POST", tmplColl, testutil.Attrs("template", map[string]any{"code": "x", "name": "x", "url": "ext::sh -c id"}), 422, "/data/attributes/url"},
		{"bad pem", "POST", tmplColl, testutil.Attrs("template", map[string]any{"code": "x", "name": "x", "url": e.repo.URL(), "ssh_key_data": "-----BEGIN nope"}), 422, "/data/attributes/ssh_key_data"},
		{"mixed patch", "PATCH", tmplColl + "/web", testutil.Attrs("template", map[string]any{"archived": true, "password": "p"}), 422, "/data/attributes/archived"},
		{"rev with ..", "PUT", tmplColl + "/web/versions/v1", testutil.Attrs("template_version", map[string]any{"git_rev": "a..b"}), 422, "/data/attributes/git_rev"},
		{"rev with dash", "PUT", tmplColl + "/web/versions/v1", testutil.Attrs("template_version", map[string]any{"git_rev": "-x"}), 422, "/data/attributes/git_rev"},
		{"no rev", "PUT", tmplColl + "/web/versions/v1", testutil.Attrs("template_version", map[string]any{"description": "x"}), 422, "/data/attributes/git_rev"},
		{"created archived", "PUT", tmplColl + "/web/versions/v1", testutil.Attrs("template_version", map[string]any{"git_rev": "main", "archived": true}), 422, "/data/attributes/archived"},
		{"assign unknown version", "POST", tmplColl + "/web/versions/v9/assign_to_assets", testutil.Attrs("template_version", map[string]any{"asset_paths": []string{"/projects/opc/assets/soa"}}), 404, ""},
		{"unknown template", "GET", tmplColl + "/nope", nil, 404, ""},
		{"history of a project", "GET", "/api/projects/opc/version_history", nil, 404, ""},
	} {
		r := e.do(t, c.method, c.path, c.body).Expect(t, c.status)
		if c.pointer != "" {
			if src, _ := r.ErrorObject(t)["source"].(map[string]any); src["pointer"] != c.pointer {
				t.Errorf("%s: error %s, want pointer %s", c.name, r.Body, c.pointer)
			}
		}
	}
	// Assigning a version that is still initializing is refused too.
	e.do(t, "PUT", tmplColl+"/web/versions/v1", testutil.Attrs("template_version", map[string]any{"git_rev": "main"})).Expect(t, http.StatusOK)
	e.do(t, "POST", tmplColl+"/web/versions/v1/assign_to_assets", testutil.Attrs("template_version",
		map[string]any{"asset_paths": []string{"/projects/opc/assets/soa"}})).Expect(t, http.StatusUnprocessableEntity)
}
