package run_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// chgActions exercises every shape a step tree can take, and the ways a
// file can describe a tree Steward refuses to build.
var chgActions = `actions:
  build:
    description: Build
    run: echo build
    timeout: 10m
    env: { GOFLAGS: -mod=mod }
  test:
    run: echo test
    timeout: "90"
  release:
    run: echo release
  deploy:
    run_as: sequential
    steps:
      - build
      - wait: { name: Approval, requires_approval_from: ops }
      - wait: { name: Smoke check }
      - release
  checks:
    run_as: parallel
    steps: [build, test]
  nested:
    run: echo outer
    steps: [checks]
  loop_a:
    steps: [loop_b]
  loop_b:
    steps: [loop_a]
  bad_timeout:
    run: echo x
    timeout: forever
` + chgChain("deep", 25) + chgFanout("wide", 11)

// chgChain is an action nesting n levels deep.
func chgChain(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  %s%d:\n    steps: [%s%d]\n", prefix, i, prefix, i+1)
	}
	fmt.Fprintf(&b, "  %s%d:\n    run: echo bottom\n", prefix, n)
	return b.String()
}

// chgFanout is an action whose tree doubles at each of n levels.
func chgFanout(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  %s%d:\n    steps: [%s%d, %s%d]\n", prefix, i, prefix, i+1, prefix, i+1)
	}
	fmt.Fprintf(&b, "  %s%d:\n    run: echo leaf\n", prefix, n)
	return b.String()
}

// chgFixture is project opc with environment dev and remote origin on a
// repository whose main branch has chgActions.
type chgFixture struct {
	store   *run.Store
	ctx     context.Context
	project *model.Node
	env     *model.Node
	repo    *testgit.GitRepo
	sha     string
}

func chgSetup(t *testing.T) *chgFixture {
	t.Helper()
	store, p := remoteStore(t)
	f := &chgFixture{store: store, ctx: context.Background(), project: p, repo: testgit.New(t)}
	f.sha = f.repo.Commit("actions", map[string]string{"actions.yaml": chgActions})
	if _, err := store.CreateGitRemote(f.ctx, model.SystemActor, p, model.GitRemoteInput{Name: "origin", URL: f.repo.URL()}); err != nil {
		t.Fatal(err)
	}
	env, err := store.CreateNode(f.ctx, model.SystemActor, p, model.KindEnvironment, model.NodeInput{Code: "dev", Name: "Development"})
	if err != nil {
		t.Fatal(err)
	}
	f.env = env
	return f
}

func (f *chgFixture) input(action string) run.ChangeInput {
	return run.ChangeInput{Action: action, GitRemoteName: remoteStr("origin"), GitRev: remoteStr("main")}
}

func (f *chgFixture) create(t *testing.T, node *model.Node, in run.ChangeInput) *run.Change {
	t.Helper()
	c, err := f.store.CreateChange(f.ctx, chgActor, node, in)
	if err != nil {
		t.Fatalf("create change %s: %v", in.Action, err)
	}
	return c
}

func (f *chgFixture) steps(t *testing.T, c *run.Change) []run.Step {
	t.Helper()
	steps, err := f.store.ChangeSteps(f.ctx, []string{c.ID})
	if err != nil {
		t.Fatal(err)
	}
	return steps[c.ID]
}

var chgActor = &model.Actor{Username: "alice", Groups: []string{"dev"}, Rules: testutil.Everywhere}

func TestCreateChangeStoresCommitAndInput(t *testing.T) {
	f := chgSetup(t)
	name := "nightly"
	in := f.input("build")
	in.Name = &name
	in.Metadata = model.JSONMap{"ticket": "OPS-1", "nested": map[string]any{"a": 1.0}}
	in.PropertyOverrides = model.JSONMap{"port": 8080.0}
	c := f.create(t, f.env, in)
	got, err := f.store.GetChange(f.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != run.StatusInitializing || got.CommitSHA == nil || *got.CommitSHA != f.sha ||
		got.GitRev != "main" || got.GitRemoteName != "origin" || got.GitRemoteID == nil || got.CreatedBy != "alice" ||
		got.Name == nil || *got.Name != name || got.RequiresApprovalFrom != nil {
		t.Fatalf("stored change = %+v", got)
	}
	if got.Metadata["ticket"] != "OPS-1" || got.PropertyOverrides["port"] != 8080.0 {
		t.Fatalf("metadata %v, overrides %v", got.Metadata, got.PropertyOverrides)
	}
	if n := testutil.Count(t, f.store.DB, "events WHERE type = 'api:changes:create'"); n != 1 {
		t.Fatalf("%d create events, want 1", n)
	}
	// A short SHA and a project change resolve the same way.
	pc := f.create(t, f.project, run.ChangeInput{Action: "test", GitRemoteName: remoteStr("origin"), GitRev: remoteStr(f.sha[:10])})
	if *pc.CommitSHA != f.sha {
		t.Fatalf("short sha resolved to %s, want %s", *pc.CommitSHA, f.sha)
	}
}

// chgStep is the shape of one built step.
type chgStep struct {
	action, name, kind, strategy, parent, approval string
	timeout                                        int
}

func chgShape(steps []run.Step) []chgStep {
	names := map[string]string{}
	out := make([]chgStep, len(steps))
	for i, st := range steps {
		names[st.ID] = *st.Name
		s := chgStep{action: st.Action, name: *st.Name, kind: st.Kind, strategy: st.ChildExecutionStrategy, timeout: st.TimeoutSeconds}
		if st.ParentID != nil {
			s.parent = names[*st.ParentID]
		}
		if st.RequiresApprovalFrom != nil {
			s.approval = *st.RequiresApprovalFrom
		}
		if st.Position != i || st.Status != run.StatusInitializing || st.StepType != "standard" {
			panic(fmt.Sprintf("step %d: position %d, status %s, type %s", i, st.Position, st.Status, st.StepType))
		}
		out[i] = s
	}
	return out
}

func TestCreateChangeBuildsStepTree(t *testing.T) {
	f := chgSetup(t)
	seq, par := run.Sequential, run.Parallel
	cases := []struct {
		action string
		want   []chgStep
	}{
		{"build", []chgStep{{"build", "build", run.StepRun, seq, "", "", 600}}},
		{"deploy", []chgStep{
			{"deploy", "deploy", run.StepGroup, seq, "", "", 0},
			{"build", "build", run.StepRun, seq, "deploy", "", 600},
			{"deploy", "Approval", run.StepWait, seq, "deploy", "ops", 0},
			{"deploy", "Smoke check", run.StepWait, seq, "deploy", "", 0},
			{"release", "release", run.StepRun, seq, "deploy", "", 0},
		}},
		{"nested", []chgStep{
			{"nested", "nested", run.StepRun, seq, "", "", 0},
			{"checks", "checks", run.StepGroup, par, "nested", "", 0},
			{"build", "build", run.StepRun, seq, "checks", "", 600},
			{"test", "test", run.StepRun, seq, "checks", "", 90},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.action, func(t *testing.T) {
			steps := f.steps(t, f.create(t, f.env, f.input(tc.action)))
			got := chgShape(steps)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("tree of %s:\n got %v\nwant %v", tc.action, got, tc.want)
			}
			for _, st := range steps {
				if st.Action == "build" && (st.Run == nil || *st.Run != "echo build" || st.Env["GOFLAGS"] != "-mod=mod") {
					t.Fatalf("build step run %v env %v", st.Run, st.Env)
				}
			}
		})
	}
}

func TestCreateChangeApprovalFromSettings(t *testing.T) {
	f := chgSetup(t)
	setSettings := func(n *model.Node, data model.JSONMap) {
		t.Helper()
		if _, err := f.store.UpdatePropertySet(f.ctx, model.SystemActor, model.KindSettings, n.SettingsID, model.PropertySetUpdate{Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	setSettings(f.project, model.JSONMap{"requires_approval_from": "ops"})
	c := f.create(t, f.env, f.input("build"))
	if c.RequiresApprovalFrom == nil || *c.RequiresApprovalFrom != "ops" {
		t.Fatalf("requires_approval_from = %v, want ops (inherited from the project)", c.RequiresApprovalFrom)
	}
	steps := f.steps(t, c)
	want := []chgStep{
		{"build", "build", run.StepGroup, run.Sequential, "", "", 0},
		{"build", run.ChangeApprovalName, run.StepWait, run.Sequential, "build", "ops", 0},
		{"build", "build", run.StepRun, run.Sequential, "build", "", 600},
	}
	if got := chgShape(steps); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tree:\n got %v\nwant %v", got, want)
	}
	if st := run.ChangeApprovalStep(c, steps); st == nil || st.ID != steps[1].ID {
		t.Fatalf("approval step = %v", st)
	}
	// The nearest setting wins: null on the environment switches it off.
	setSettings(f.env, model.JSONMap{"requires_approval_from": nil})
	if c := f.create(t, f.env, f.input("build")); c.RequiresApprovalFrom != nil {
		t.Fatalf("environment null setting ignored: %v", *c.RequiresApprovalFrom)
	}
	if c := f.create(t, f.project, f.input("build")); c.RequiresApprovalFrom == nil {
		t.Fatal("project change lost its approval")
	}
}

func TestCreateChangeRefusesBadInput(t *testing.T) {
	f := chgSetup(t)
	archived, err := f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindEnvironment, model.NodeInput{Code: "old", Name: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ArchiveNode(f.ctx, model.SystemActor, archived); err != nil {
		t.Fatal(err)
	}
	asset, err := f.store.CreateNode(f.ctx, model.SystemActor, f.env, model.KindAsset, model.NodeInput{Code: "db", Name: "DB"})
	if err != nil {
		t.Fatal(err)
	}
	with := func(action string, mod func(*run.ChangeInput)) run.ChangeInput {
		in := f.input(action)
		mod(&in)
		return in
	}
	cases := []struct {
		name    string
		node    *model.Node
		in      run.ChangeInput
		code    string
		pointer string
		detail  []string
	}{
		{"unknown action", f.env, f.input("deploi"), "unknown_action", "action", []string{`"deploi"`, f.sha, "closest: deploy"}},
		{"unknown action near nothing", f.env, f.input("frobnicate"), "unknown_action", "action", []string{"defined: build, test, release"}},
		{"shell metacharacters", f.env, f.input("build; rm -rf /"), "invalid_action", "action", []string{"shell"}},
		{"command substitution", f.env, f.input("$(id)"), "invalid_action", "action", nil},
		{"empty action", f.env, f.input(""), "blank", "action", nil},
		{"missing git_rev", f.env, with("build", func(in *run.ChangeInput) { in.GitRev = nil }), "required", "git_rev", nil},
		{"missing remote", f.env, with("build", func(in *run.ChangeInput) { in.GitRemoteName = nil }), "required", "git_remote_name", nil},
		{"malformed git_rev", f.env, with("build", func(in *run.ChangeInput) { in.GitRev = remoteStr("main..evil") }), "invalid_git_rev", "git_rev", nil},
		{"git_rev that does not exist", f.env, with("build", func(in *run.ChangeInput) { in.GitRev = remoteStr("no-such-branch") }),
			"git_not_found", "git_rev", []string{`"no-such-branch"`, `"origin"`}},
		{"unknown remote", f.env, with("build", func(in *run.ChangeInput) { in.GitRemoteName = remoteStr("upstream") }),
			"unknown_git_remote", "git_remote_name", []string{"upstream"}},
		{"archived node", archived, f.input("build"), "archived_node", "", []string{"archived"}},
		{"asset naming a remote", asset, with("build", func(in *run.ChangeInput) { in.GitRev = nil }), "not_allowed", "git_remote_name", nil},
		{"asset naming a rev", asset, run.ChangeInput{Action: "build", GitRev: remoteStr("main")}, "not_allowed", "git_rev", nil},
		{"asset without template", asset, run.ChangeInput{Action: "build"}, "no_template", "", nil},
		{"template_version outside assets", f.env, with("build", func(in *run.ChangeInput) { in.TemplateVersion = remoteStr("v1") }),
			"not_allowed", "template_version", nil},
		{"cycle", f.env, f.input("loop_a"), "invalid_step_tree", "action", []string{"loop_a -> loop_b -> loop_a"}},
		{"too deep", f.env, f.input("deep0"), "invalid_step_tree", "action", []string{"deep"}},
		{"too many steps", f.env, f.input("wide0"), "invalid_step_tree", "action", []string{"1000 steps"}},
		{"bad timeout", f.env, f.input("bad_timeout"), "invalid_step_tree", "action", []string{"forever"}},
		{"blank name", f.env, with("build", func(in *run.ChangeInput) { in.Name = remoteStr("  ") }), "invalid_name", "name", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.store.CreateChange(f.ctx, chgActor, tc.node, tc.in)
			e := steward.AsError(err)
			if err == nil || e.Kind != steward.KindInvalid || e.Code != tc.code || e.Field != tc.pointer {
				t.Fatalf("error = %v (code %q, field %q), want 422 %q at %q", err, e.Code, e.Field, tc.code, tc.pointer)
			}
			t.Log(e.Detail)
			for _, want := range tc.detail {
				if !strings.Contains(e.Detail, want) {
					t.Fatalf("detail %q does not mention %q", e.Detail, want)
				}
			}
		})
	}
	for _, table := range []string{"changes", "steps", "events WHERE type LIKE 'api:changes:%'"} {
		if n := testutil.Count(t, f.store.DB, table); n != 0 {
			t.Fatalf("%d rows in %s after refused creates", n, table)
		}
	}
}

func TestCreateChangeArchivedProjectClosesEnvironment(t *testing.T) {
	f := chgSetup(t)
	if _, err := f.store.ArchiveNode(f.ctx, model.SystemActor, f.project); err != nil {
		t.Fatal(err)
	}
	_, err := f.store.CreateChange(f.ctx, chgActor, f.env, f.input("build"))
	if e := steward.AsError(err); err == nil || e.Code != "archived_node" || !strings.Contains(e.Detail, "/projects/opc ") {
		t.Fatalf("error = %v, want archived_node naming the project", err)
	}
	_, err = f.store.ChangeTarget(f.ctx, "/projects/opc/environments/dev")
	if e := steward.AsError(err); err == nil || e.Field != "parent_path" {
		t.Fatalf("ChangeTarget error = %v, want one at parent_path", err)
	}
	_, err = f.store.ChangeTarget(f.ctx, "/api/projects/opc/environments/nope")
	if e := steward.AsError(err); err == nil || e.Code != "unknown_node" || e.Field != "parent_path" {
		t.Fatalf("ChangeTarget of a missing node = %v", err)
	}
}

// remoteStore is a store with a secret box and git mirrors, and project opc.
func remoteStore(t *testing.T) (*run.Store, *model.Node) {
	t.Helper()
	store := testutil.NewStore(t)
	p, err := store.CreateNode(context.Background(), model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	return store, p
}
func remoteStr(s string) *string { return &s }
