package model_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/listquery"
)

const tmplActions = `actions:
  build:
    description: Build the release
    run: make build
    timeout: 10m
    env: { GOFLAGS: -mod=mod }
  deploy:
    description: Build, approve, release
    run_as: sequential
    steps:
      - build
      - wait: { name: Approval, requires_approval_from: ops }
      - release
  release:
    run: ./scripts/release.sh
`

var tmplWantActions = model.ActionList{
	{Name: "build", Description: "Build the release"},
	{Name: "deploy", Description: "Build, approve, release"},
	{Name: "release", Description: ""},
}

const tmplPassword = "s3cret-template-password"

// tmplFixture is a store with project opc, a repository and template web on it.
type tmplFixture struct {
	store   *run.Store
	project *model.Node
	repo    *testgit.GitRepo
	tpl     *model.Template
	ctx     context.Context
}

func tmplSetup(t *testing.T) *tmplFixture {
	t.Helper()
	store, p := remoteStore(t)
	f := &tmplFixture{store: store, project: p, repo: testgit.New(t), ctx: context.Background()}
	f.repo.Commit("first", map[string]string{"actions.yaml": tmplActions})
	tpl, err := store.CreateTemplate(f.ctx, model.SystemActor, p, model.TemplateInput{
		Code: "web", Name: "Web", URL: f.repo.URL(),
		Credentials: model.CredentialsInput{User: remoteStr("bot"), Password: remoteStr(tmplPassword)},
	})
	if err != nil {
		t.Fatalf("create template: %v", err)
	}
	f.tpl = tpl
	return f
}

// put writes version name at rev and resolves it.
func (f *tmplFixture) put(t *testing.T, name, rev string) *model.TemplateVersion {
	t.Helper()
	v, _, err := f.store.PutTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, name, model.TemplateVersionInput{GitRev: rev})
	if err != nil {
		t.Fatalf("put version %s at %s: %v", name, rev, err)
	}
	if v.State != model.VersionInitializing {
		t.Fatalf("a written version is %s, want initializing", v.State)
	}
	if err := f.store.ResolvePendingTemplateVersions(f.ctx); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	v, err = f.store.GetTemplateVersion(f.ctx, f.tpl, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *tmplFixture) asset(t *testing.T, parent *model.Node, code string) *model.Node {
	t.Helper()
	a, err := f.store.CreateNode(f.ctx, model.SystemActor, parent, model.KindAsset, model.NodeInput{Code: code, Name: code})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tmplErrCode(t *testing.T, err error, code, pointer string) {
	t.Helper()
	e := steward.AsError(err)
	if err == nil || e.Code != code || e.Field != pointer {
		t.Fatalf("error = %v (code %q, field %q), want code %q at %q", err, e.Code, e.Field, code, pointer)
	}
}

func TestTemplateVersionResolvesRevs(t *testing.T) {
	t.Parallel()
	f := tmplSetup(t)
	first := f.repo.Git("rev-parse", "HEAD")
	f.repo.Git("tag", "light")
	f.repo.Git("tag", "-a", "annotated", "-m", "release")
	second := f.repo.Commit("mintmodel", map[string]string{"mintmodel/templates/assets/web.json.tmpl": `{"a": 1}`})
	f.repo.Git("branch", "feature", first)

	for _, c := range []struct {
		name, rev, sha string
		mint           bool
	}{
		{"branch", "main", second, true},
		{"other-branch", "feature", first, false},
		{"tag", "light", first, false},
		{"annotated-tag", "annotated", first, false},
		{"sha", first, first, false},
		{"short-sha", second[:8], second, true},
	} {
		v := f.put(t, c.name, c.rev)
		if v.State != model.VersionReady || v.CommitSHA == nil || *v.CommitSHA != c.sha {
			t.Errorf("%s: state %s sha %v reason %v, want ready at %s", c.name, v.State, v.CommitSHA, v.StateReason, c.sha)
			continue
		}
		if !reflect.DeepEqual(v.Actions, tmplWantActions) {
			t.Errorf("%s: actions %v, want %v", c.name, v.Actions, tmplWantActions)
		}
		if v.HasMintmodel == nil || *v.HasMintmodel != c.mint {
			t.Errorf("%s: has_mintmodel %v, want %v", c.name, v.HasMintmodel, c.mint)
		}
	}
}

func TestTemplateVersionPrefersTemplateFolder(t *testing.T) {
	t.Parallel()
	f := tmplSetup(t)
	f.repo.Commit("folder", map[string]string{"web/actions.yaml": "actions:\n  only:\n    description: from the folder\n"})
	v := f.put(t, "v1", "main")
	want := model.ActionList{{Name: "only", Description: "from the folder"}}
	if v.State != model.VersionReady || !reflect.DeepEqual(v.Actions, want) {
		t.Fatalf("state %s actions %v, want ready with %v", v.State, v.Actions, want)
	}
}

func TestTemplateVersionBroken(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		files  map[string]string
		rev    string
		reason []string
	}{
		{"unknown rev", nil, "no-such-branch", []string{`"no-such-branch"`, "git remote"}},
		{"unknown field", map[string]string{"actions.yaml": "actions:\n  a:\n    command: x\n"}, "main", []string{"actions.yaml", "command"}},
		{"bad step", map[string]string{"actions.yaml": "actions:\n  a:\n    steps: [missing]\n"}, "main", []string{`"missing"`}},
		{"no actions file", map[string]string{"actions.yaml": ""}, "main", []string{"actions.yaml"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := tmplSetup(t)
			if c.files != nil {
				f.repo.Commit(c.name, c.files)
			}
			v := f.put(t, "v1", c.rev)
			if v.State != model.VersionBroken || v.StateReason == nil || v.CommitSHA != nil {
				t.Fatalf("state %s reason %v sha %v, want broken with a reason", v.State, v.StateReason, v.CommitSHA)
			}
			var events []model.Event
			if err := f.store.DB.Where("type = ?", "api:template_versions:broken").Find(&events).Error; err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Attributes["reason"] != *v.StateReason {
				t.Fatalf("broken events %v, want one carrying %q", events, *v.StateReason)
			}
			for _, want := range c.reason {
				if !strings.Contains(*v.StateReason, want) {
					t.Errorf("reason %q does not mention %s", *v.StateReason, want)
				}
			}
			all, _ := json.Marshal(events)
			if strings.Contains(string(all), tmplPassword) || strings.Contains(*v.StateReason, tmplPassword) {
				t.Fatalf("a secret leaked into the broken event: %s", all)
			}
		})
	}
}

func TestTemplateVersionRepointing(t *testing.T) {
	t.Parallel()
	f := tmplSetup(t)
	second := f.repo.Commit("second", map[string]string{"README": "x"})
	v := f.put(t, "v1", "main")
	// An unused version may move to another rev.
	if v = f.put(t, "v1", second[:10]); v.State != model.VersionReady || *v.CommitSHA != second {
		t.Fatalf("re-pointed unused version: %s %v", v.State, v.CommitSHA)
	}
	a := f.asset(t, f.project, "a1")
	if _, err := f.store.AssignTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, v, []string{a.Path}); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.store.PutTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, "v1", model.TemplateVersionInput{GitRev: "main"})
	tmplErrCode(t, err, "version_in_use", "git_rev")
	// The same rev with a new description keeps the commit and the state.
	desc := "described"
	got, _, err := f.store.PutTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, "v1",
		model.TemplateVersionInput{GitRev: second[:10], Description: &desc})
	if err != nil || got.State != model.VersionReady || *got.CommitSHA != second || got.Description != desc {
		t.Fatalf("same-rev update of a used version: %+v, %v", got, err)
	}
	for _, rev := range []string{"a..b", "-x", ""} {
		_, _, err := f.store.PutTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, "v2", model.TemplateVersionInput{GitRev: rev})
		tmplErrCode(t, err, "invalid_git_rev", "git_rev")
	}
}

func TestTemplateAssignWritesHistory(t *testing.T) {
	t.Parallel()
	f := tmplSetup(t)
	v1 := f.put(t, "v1", "main")
	v2 := f.put(t, "v2", "main")
	env, err := f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindEnvironment, model.NodeInput{Code: "dev", Name: "Dev"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.asset(t, f.project, "a"), f.asset(t, env, "b")

	_, err = f.store.AssignTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, v1, []string{a.Path, "/projects/opc/assets/nope", "/projects/other/assets/a"})
	tmplErrCode(t, err, "unknown_assets", "asset_paths")
	if !strings.Contains(err.Error(), "/projects/opc/assets/nope") || !strings.Contains(err.Error(), "/projects/other/assets/a") {
		t.Fatalf("error %v does not name the unknown paths", err)
	}
	if n := tmplHistory(t, f, a); len(n) != 0 {
		t.Fatalf("a failed assignment wrote history %v", n)
	}

	for _, step := range []*model.TemplateVersion{v1, v1, v2} {
		if _, err := f.store.AssignTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, step, []string{a.Path, "/api" + b.Path}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*model.Node{a, b} {
		h := tmplHistory(t, f, n)
		if len(h) != 2 || h[0].TemplateVersionID != v1.ID || h[0].ActiveTo == nil || h[1].TemplateVersionID != v2.ID || h[1].ActiveTo != nil {
			t.Fatalf("%s history %+v, want v1 (closed) then v2 (open)", n.Path, h)
		}
		if !h[0].ActiveTo.Equal(h[1].ActiveFrom) {
			t.Errorf("%s: v1 closed at %v but v2 opened at %v", n.Path, h[0].ActiveTo, h[1].ActiveFrom)
		}
		tpl, tv, remote, err := f.store.AssetTemplate(f.ctx, n)
		if err != nil || tpl.ID != f.tpl.ID || tv.ID != v2.ID || remote.URL != f.repo.URL() || remote.Auth.Password != tmplPassword {
			t.Fatalf("AssetTemplate(%s) = %v %v %v, %v", n.Path, tpl, tv, remote.URL, err)
		}
	}

	broken := f.put(t, "broken", "no-such-rev")
	_, err = f.store.AssignTemplateVersion(f.ctx, model.SystemActor, f.project, f.tpl, broken, []string{a.Path})
	tmplErrCode(t, err, "template_version_not_ready", "asset_paths")
}

func tmplHistory(t *testing.T, f *tmplFixture, asset *model.Node) []model.TemplateVersionHistory {
	t.Helper()
	page, err := f.store.VersionHistoryList(asset).Fetch(context.Background(), listquery.List{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Rows
}

func TestAssetNamesTemplate(t *testing.T) {
	t.Parallel()
	f := tmplSetup(t)
	v1 := f.put(t, "v1", "main")
	f.put(t, "bad", "no-such-rev")
	s := func(v string) *string { return &v }

	for _, c := range []struct {
		name, tpl, version, code, pointer string
	}{
		{"unknown template", "nope", "v1", "unknown_template", "template_name"},
		{"unknown version", "web", "v9", "unknown_template_version", "template_version"},
		{"broken version", "web", "bad", "template_version_not_ready", "template_version"},
		{"no version", "web", "", "required", "template_version"},
		{"no template", "", "v1", "required", "template_name"},
	} {
		_, err := f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindAsset,
			model.NodeInput{Code: "x", Name: "x", TemplateName: s(c.tpl), TemplateVersion: s(c.version)})
		tmplErrCode(t, err, c.code, c.pointer)
	}
	var n int64
	f.store.DB.Model(&model.Node{}).Where("kind = ?", model.KindAsset).Count(&n)
	if n != 0 {
		t.Fatalf("refused creates left %d assets", n)
	}

	// By name as well as by code, as the reference's examples do.
	a, err := f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindAsset,
		model.NodeInput{Code: "a", Name: "a", TemplateName: s("Web"), TemplateVersion: s("v1")})
	if err != nil {
		t.Fatal(err)
	}
	if h := tmplHistory(t, f, a); len(h) != 1 || h[0].TemplateVersionID != v1.ID || *a.TemplateName != "web" {
		t.Fatalf("created asset: template %v history %+v", *a.TemplateName, h)
	}
	v2 := f.put(t, "v2", "main")
	if _, err := f.store.UpdateNode(f.ctx, model.SystemActor, a, model.NodeInput{Code: "a", TemplateVersion: s("v2")},
		map[string]bool{"template_version": true}); err != nil {
		t.Fatal(err)
	}
	if h := tmplHistory(t, f, a); len(h) != 2 || h[1].TemplateVersionID != v2.ID || h[0].ActiveTo == nil {
		t.Fatalf("after update: history %+v", h)
	}
	if _, err := f.store.UpdateNode(f.ctx, model.SystemActor, a, model.NodeInput{Code: "a"},
		map[string]bool{"template_name": true, "template_version": true}); err != nil {
		t.Fatal(err)
	}
	if tpl, _, _, err := f.store.AssetTemplate(f.ctx, a); tpl != nil || err != nil {
		t.Fatalf("after clearing: template %v, %v", tpl, err)
	}
	if h := tmplHistory(t, f, a); h[1].ActiveTo == nil {
		t.Fatalf("clearing the template left the period open: %+v", h)
	}
}

func TestTemplateCreateValidates(t *testing.T) {
	t.Parallel()
	f := tmplSetup(t)
	for _, c := range []struct {
		name    string
		in      model.TemplateInput
		code    string
		pointer string
	}{
		{"slash in code", model.TemplateInput{Code: "a/b", Name: "x", URL: f.repo.URL()}, "invalid_format", "code"},
		{"dot dot code", model.TemplateInput{Code: "..", Name: "x", URL: f.repo.URL()}, "invalid_format", "code"},
		{"taken", model.TemplateInput{Code: "web", Name: "x", URL: f.repo.URL()}, "taken", "code"},
		{"ext transport", model.TemplateInput{Code: "x", Name: "x", URL: "ext::sh -c touch% /tmp/pwned"}, "invalid_url", "url"},
		{"spaces", model.TemplateInput{Code: "x", Name: "x", URL: "https://example.com/a b"}, "invalid_url", "url"},
		{"bad key", model.TemplateInput{Code: "x", Name: "x", URL: f.repo.URL(),
			Credentials: model.CredentialsInput{SSHKey: remoteStr("not a key")}}, "invalid_ssh_key", "ssh_key_data"},
	} {
		_, err := f.store.CreateTemplate(f.ctx, model.SystemActor, f.project, c.in)
		tmplErrCode(t, err, c.code, c.pointer)
	}
}

func TestParseActionsFile(t *testing.T) {
	t.Parallel()
	f, err := model.ParseActionsFile("actions.yaml", []byte(tmplActions))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.List(), tmplWantActions) || f.Actions["deploy"].Steps[1].Wait.RequiresApprovalFrom != "ops" {
		t.Fatalf("parsed %+v", f)
	}
	for name, src := range map[string]string{
		"unknown top-level": "actions: {a: {run: x}}\nextra: 1\n",
		"unknown field":     "actions:\n  a:\n    runs: x\n",
		"bad run_as":        "actions:\n  a:\n    run_as: random\n",
		"no actions":        "actions: {}\n",
		"not yaml":          "actions: [\n",
		"bad wait":          "actions:\n  a:\n    steps:\n      - wait: {name: x, who: y}\n",
	} {
		if _, err := model.ParseActionsFile("x/actions.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "x/actions.yaml") {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}

// An asset's change runs its template version's actions, from the
// template's folder when the commit has one.
func TestCreateAssetChangeRunsTemplateVersion(t *testing.T) {
	f := tmplSetup(t)
	v1 := f.put(t, "v1", "main")
	// v2's commit keeps its actions in the template's folder, which wins.
	f.repo.Commit("folder", map[string]string{"web/actions.yaml": "actions:\n  only_in_folder:\n    run: echo hi\n"})
	v2 := f.put(t, "v2", "main")
	asset, err := f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindAsset,
		model.NodeInput{Code: "www", Name: "WWW", TemplateName: remoteStr("web"), TemplateVersion: remoteStr("v1")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.store.CreateChange(f.ctx, model.SystemActor, asset, run.ChangeInput{Action: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if c.TemplateVersionID == nil || *c.TemplateVersionID != v1.ID || *c.CommitSHA != *v1.CommitSHA || c.GitRemoteID != nil || c.GitRemoteName != "web" {
		t.Fatalf("asset change = %+v", c)
	}
	_, err = f.store.CreateChange(f.ctx, model.SystemActor, asset, run.ChangeInput{Action: "only_in_folder"})
	if e := steward.AsError(err); e.Code != "unknown_action" || !strings.Contains(e.Detail, *v1.CommitSHA) {
		t.Fatalf("v1 has no only_in_folder: %v", err)
	}
	c, err = f.store.CreateChange(f.ctx, model.SystemActor, asset, run.ChangeInput{Action: "only_in_folder", TemplateVersion: remoteStr("v2")})
	if err != nil || *c.TemplateVersionID != v2.ID {
		t.Fatalf("change at v2: %v %+v", err, c)
	}
	_, err = f.store.CreateChange(f.ctx, model.SystemActor, asset, run.ChangeInput{Action: "deploy", TemplateVersion: remoteStr("v9")})
	if e := steward.AsError(err); e.Code != "unknown_template_version" || e.Field != "template_version" {
		t.Fatalf("unknown version: %v", err)
	}
}
