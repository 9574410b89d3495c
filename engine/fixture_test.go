package engine_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
)

// fixture is a server with a running engine, a real Git repository holding
// the actions, and project p with that repository as remote "origin".
type fixture struct {
	t       testing.TB
	srv     *testutil.Server
	store   *run.Store
	engine  *engine.Engine
	repo    *testgit.GitRepo
	project *model.Node
	admin   *model.Actor
	ctx     context.Context
}

func newFixture(t testing.TB, files map[string]string, configure ...func(*engine.Engine)) *fixture {
	t.Helper()
	srv := testutil.NewServer(t)
	f := &fixture{t: t, srv: srv, store: srv.Store, repo: testgit.New(t), ctx: context.Background()}
	f.engine = enginetest.Start(t, srv.Store, configure...)
	f.repo.Commit("actions", files)
	var err error
	if f.admin, err = f.store.Authenticate(f.ctx, testutil.AdminToken); err != nil {
		t.Fatal(err)
	}
	if f.project, err = f.store.CreateNode(f.ctx, f.admin, nil, model.KindProject, model.NodeInput{Code: "p", Name: "P"}); err != nil {
		t.Fatal(err)
	}
	if _, err = f.store.CreateGitRemote(f.ctx, f.admin, f.project, model.GitRemoteInput{Name: "origin", URL: f.repo.URL()}); err != nil {
		t.Fatal(err)
	}
	return f
}

// actions is an actions.yaml from its `actions:` body (indented by two).
func actions(body string) map[string]string {
	return map[string]string{"actions.yaml": "actions:\n" + body}
}

// node creates environment code under the project.
func (f *fixture) node(code string) *model.Node {
	f.t.Helper()
	n, err := f.store.CreateNode(f.ctx, f.admin, f.project, model.KindEnvironment, model.NodeInput{Code: code, Name: code})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// run creates a change of action on node (the project when nil) as actor
// (admin when nil).
func (f *fixture) run(node *model.Node, action string, actor *model.Actor, overrides model.JSONMap) *run.Change {
	f.t.Helper()
	if node == nil {
		node = f.project
	}
	if actor == nil {
		actor = f.admin
	}
	remote, rev := "origin", "main"
	c, err := f.store.CreateChange(f.ctx, actor, node, run.ChangeInput{Action: action, GitRemoteName: &remote, GitRev: &rev, PropertyOverrides: overrides})
	if err != nil {
		f.t.Fatalf("create change %s: %v", action, err)
	}
	return c
}

// wait waits for the change to finish with status want.
func (f *fixture) wait(c *run.Change, want string) *run.Change {
	f.t.Helper()
	got := testutil.WaitChange(f.t, f.store, c.ID, run.StatusSuccess, run.StatusError, run.StatusCancelled, run.StatusRejected)
	if got.Status != want {
		f.t.Fatalf("change %s (%s) ended %s, want %s; steps: %s\nlog:\n%s", c.ID, c.Action, got.Status, want, f.stepSummary(c), f.log(c))
	}
	return got
}

// steps returns the change's steps by position.
func (f *fixture) steps(c *run.Change) []run.Step {
	f.t.Helper()
	var out []run.Step
	if err := f.store.DB.Where("change_id = ?", c.ID).Order("position").Find(&out).Error; err != nil {
		f.t.Fatal(err)
	}
	return out
}

// stepSummary is "action:status" per step, by position ("wait" for wait steps).
func (f *fixture) stepSummary(c *run.Change) string {
	var out []string
	for _, st := range f.steps(c) {
		name := st.Action
		if st.Kind == run.StepWait {
			name = "wait"
		}
		out = append(out, name+":"+st.Status)
	}
	return strings.Join(out, " ")
}

// log is the change's whole log, one line per log line.
func (f *fixture) log(c *run.Change) string {
	f.t.Helper()
	var lines []run.LogLine
	if err := f.store.DB.Where("change_id = ?", c.ID).Order("id").Find(&lines).Error; err != nil {
		f.t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

// events lists the types of events about the change or its steps, oldest first.
func (f *fixture) events(c *run.Change) []string {
	f.t.Helper()
	ids := []string{c.ID}
	for _, st := range f.steps(c) {
		ids = append(ids, st.ID)
	}
	var evs []model.Event
	if err := f.store.DB.Where("source_id IN ?", ids).Order("created_at, id").Find(&evs).Error; err != nil {
		f.t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// user creates a user in groups and returns the actor they act as.
func (f *fixture) user(name string, groups ...string) *model.Actor {
	f.t.Helper()
	if _, err := f.store.CreateUser(f.ctx, f.admin, name, groups); err != nil {
		f.t.Fatal(err)
	}
	testutil.GrantAll(f.t, f.store.Store, name)
	return &model.Actor{Username: name, Groups: groups, Rules: testutil.Everywhere}
}

// readFile reads a file a step wrote, failing the test when it cannot.
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
