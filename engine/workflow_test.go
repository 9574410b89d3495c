package engine_test

import (
	"fmt"
	"sync"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// wfFixture is the engine fixture with template "web" (actions ok, fail,
// slow) at version 1.0 and assets web1 and web2 in environment prod.
type wfFixture struct {
	*fixture
	web1, web2 *model.Node
}

func newWorkflowFixture(t *testing.T) *wfFixture {
	t.Helper()
	f := newFixture(t, actions("  unused:\n    run: \"true\"\n"))
	tplRepo := testgit.New(t)
	tplRepo.Commit("template", map[string]string{"actions.yaml": "actions:\n" +
		"  ok:\n    run: echo ok from $STEWARD_NODE_PATH\n" +
		"  fail:\n    run: exit 3\n" +
		"  slow:\n    run: exec sleep 300\n"})
	tpl, err := f.store.CreateTemplate(f.ctx, f.admin, f.project, model.TemplateInput{Code: "web", Name: "Web", URL: tplRepo.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.PutTemplateVersion(f.ctx, f.admin, f.project, tpl, "1.0", model.TemplateVersionInput{GitRev: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.ResolvePendingTemplateVersions(f.ctx); err != nil {
		t.Fatal(err)
	}
	env := f.node("prod")
	w := &wfFixture{fixture: f}
	for _, code := range []string{"web1", "web2"} {
		name, version := "web", "1.0"
		a, err := f.store.CreateNode(f.ctx, f.admin, env, model.KindAsset, model.NodeInput{Code: code, Name: code, TemplateName: &name, TemplateVersion: &version})
		if err != nil {
			t.Fatal(err)
		}
		if code == "web1" {
			w.web1 = a
		} else {
			w.web2 = a
		}
	}
	return w
}

// workflow stores a published workflow of project (the fixture's when nil)
// straight into the tables: the definition checks are the definitions'
// tests' business, and these tests need definitions those checks refuse
// (a cycle).
func (f *wfFixture) workflow(project *model.Node, code string, steps ...model.WorkflowStep) (*model.Workflow, *model.WorkflowVersion) {
	f.t.Helper()
	if project == nil {
		project = f.project
	}
	now := f.store.Now()
	wf := &model.Workflow{ID: model.NewID(), ProjectID: project.ID, Code: code, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	v := &model.WorkflowVersion{ID: model.NewID(), WorkflowID: wf.ID, Version: 1, Name: code + " workflow", SourceYAML: "---\n",
		Steps: steps, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	if err := f.store.DB.Create(wf).Error; err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.DB.Create(v).Error; err != nil {
		f.t.Fatal(err)
	}
	return wf, v
}

func (f *wfFixture) start(wf *model.Workflow, v *model.WorkflowVersion, actor *model.Actor, overrides model.JSONMap) *run.WorkflowRun {
	f.t.Helper()
	if actor == nil {
		actor = f.admin
	}
	if !actor.IsSystem() {
		// A run's steps act as its creator, with the creator's rules.
		if _, err := f.store.UserByName(f.ctx, actor.Username); model.ModelNotFound(err) {
			f.user(actor.Username, actor.Groups...)
		}
	}
	r, _, err := f.store.CreateWorkflowRun(f.ctx, actor, f.project, wf, v, run.WorkflowRunInput{PropertyOverrides: overrides})
	if err != nil {
		f.t.Fatalf("start workflow %s: %v", wf.Code, err)
	}
	return r
}

func (f *wfFixture) finished(r *run.WorkflowRun, want string) *run.WorkflowRun {
	f.t.Helper()
	got := testutil.WaitWorkflowRun(f.t, f.store, r.ID, run.StatusSuccess, run.StatusError, run.StatusCancelled, run.StatusRejected)
	if got.Status != want {
		f.t.Fatalf("workflow run ended %s, want %s; steps: %v", got.Status, want, f.statuses(r))
	}
	return got
}

// statuses maps step names to statuses.
func (f *wfFixture) statuses(r *run.WorkflowRun) map[string]string {
	f.t.Helper()
	var steps []run.WorkflowRunStep
	if err := f.store.DB.Where("run_id = ?", r.ID).Order("position").Find(&steps).Error; err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, st := range steps {
		out[st.Name] = st.Status
	}
	return out
}

func change(name, target, action string) model.WorkflowStep {
	return model.WorkflowStep{Type: model.WorkflowStepChange, Name: name, Target: target, Action: action}
}

func stage(name, runAs string, children ...model.WorkflowStep) model.WorkflowStep {
	return model.WorkflowStep{Name: name, RunAs: runAs, Children: children}
}

func wait(name string, approvers *string) model.WorkflowStep {
	return model.WorkflowStep{Type: model.WorkflowStepWait, Name: name, RequiresApprovalFrom: approvers}
}

func nested(name, target string) model.WorkflowStep {
	return model.WorkflowStep{Type: model.WorkflowStepWorkflow, Name: name, Target: target}
}

// TestWorkflowRunsStepsInOrder: a change, a wait continued by a user, then
// a parallel stage of two changes; every change step creates exactly one
// change on its target and follows it to success.
func TestWorkflowRunsStepsInOrder(t *testing.T) {
	f := newWorkflowFixture(t)
	wf, v := f.workflow(nil, "deploy",
		change("first", f.web1.Path, "ok"),
		wait("Smoke check", nil),
		stage("both", run.Parallel, change("a", f.web1.Path, "ok"), change("b", f.web2.Path, "ok")))
	r := f.start(wf, v, nil, nil)
	st := testutil.WaitWorkflowStep(t, f.store, r.ID, "Smoke check", run.StatusWaiting)
	if got := f.statuses(r); got["first"] != run.StatusSuccess || got["a"] != run.StatusPending {
		t.Fatalf("at the wait: %v", got)
	}
	if _, err := f.store.ActOnWorkflowStep(f.ctx, f.admin, st.ID, run.VerbApprove, ""); steward.AsError(err).Code != "no_approval_required" {
		t.Fatalf("approving a plain wait = %v", err)
	}
	if _, err := f.store.ActOnWorkflowStep(f.ctx, f.admin, st.ID, run.VerbContinue, "looks fine"); err != nil {
		t.Fatal(err)
	}
	f.finished(r, run.StatusSuccess)
	var changes []run.Change
	if err := f.store.DB.Order("created_at").Find(&changes).Error; err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Fatalf("%d changes, want one per change step (3)", len(changes))
	}
	for _, c := range changes {
		if c.Status != run.StatusSuccess || c.WorkflowRunID == nil || *c.WorkflowRunID != r.ID || c.CreatedBy != "admin" {
			t.Errorf("change %s: %s, workflow run %v, created by %s", c.Action, c.Status, c.WorkflowRunID, c.CreatedBy)
		}
	}
	var version model.WorkflowVersion
	if err := f.store.DB.Where("id = ?", v.ID).Take(&version).Error; err != nil || !version.Ran {
		t.Errorf("the version that ran is not marked immutable (ran = %v, %v)", version.Ran, err)
	}
}

// TestWorkflowFailureStopsSequence: a failed change errors its stage; the
// steps after it are aborted, and a parallel sibling still finishes.
func TestWorkflowFailureStopsSequence(t *testing.T) {
	f := newWorkflowFixture(t)
	wf, v := f.workflow(nil, "broken",
		stage("par", run.Parallel, change("bad", f.web1.Path, "fail"), change("good", f.web2.Path, "ok")),
		change("after", f.web1.Path, "ok"))
	r := f.start(wf, v, nil, nil)
	f.finished(r, run.StatusError)
	got := f.statuses(r)
	want := map[string]string{"bad": run.StatusError, "good": run.StatusSuccess, "par": run.StatusError, "after": run.StatusAborted}
	for name, status := range want {
		if got[name] != status {
			t.Errorf("%s = %s, want %s (all: %v)", name, got[name], status, got)
		}
	}
}

// TestWorkflowApprovals: the run's creator cannot approve it, a user
// outside the group cannot either (both refusals are audit events), a
// member can; a rejection ends the run rejected with the rest aborted.
func TestWorkflowApprovals(t *testing.T) {
	f := newWorkflowFixture(t)
	ops := "ops"
	wf, v := f.workflow(nil, "gated", wait("Approval", &ops), change("release", f.web1.Path, "ok"))
	alice := &model.Actor{Username: "alice", Groups: []string{"ops"}, Rules: testutil.Everywhere}
	bob := &model.Actor{Username: "bob", Groups: []string{"ops"}, Rules: testutil.Everywhere}
	mallory := &model.Actor{Username: "mallory", Groups: []string{"dev"}, Rules: testutil.Everywhere}

	r := f.start(wf, v, alice, nil)
	st := testutil.WaitWorkflowStep(t, f.store, r.ID, "Approval", run.StatusWaiting)
	for _, who := range []*model.Actor{alice, mallory} {
		if _, err := f.store.ActOnWorkflowStep(f.ctx, who, st.ID, run.VerbApprove, ""); steward.ErrorKind(err) != steward.KindForbidden {
			t.Errorf("%s approved: %v", who.Username, err)
		}
	}
	if n := testutil.Count(t, f.store.DB, "events WHERE type = 'audit:workflow_steps:approve:denied'"); n != 2 {
		t.Errorf("%d denied events, want 2", n)
	}
	if _, err := f.store.ActOnWorkflowStep(f.ctx, bob, st.ID, run.VerbApprove, "go"); err != nil {
		t.Fatal(err)
	}
	f.finished(r, run.StatusSuccess)

	r2 := f.start(wf, v, alice, nil)
	st2 := testutil.WaitWorkflowStep(t, f.store, r2.ID, "Approval", run.StatusWaiting)
	named := "carol, dave"
	wfNamed, vNamed := f.workflow(nil, "named", wait("Approval", &named))
	if _, err := f.store.ActOnWorkflowStep(f.ctx, bob, st2.ID, run.VerbReject, "not today"); err != nil {
		t.Fatal(err)
	}
	f.finished(r2, run.StatusRejected)
	if got := f.statuses(r2); got["release"] != run.StatusAborted {
		t.Errorf("after a rejection: %v", got)
	}
	r3 := f.start(wfNamed, vNamed, alice, nil)
	st3 := testutil.WaitWorkflowStep(t, f.store, r3.ID, "Approval", run.StatusWaiting)
	if _, err := f.store.ActOnWorkflowStep(f.ctx, &model.Actor{Username: "dave", Rules: testutil.Everywhere}, st3.ID, run.VerbApprove, ""); err != nil {
		t.Fatalf("a named user could not approve: %v", err)
	}
	f.finished(r3, run.StatusSuccess)
}

// TestWorkflowNestingAndCycles: workflows nest three deep (across
// projects), each level a real run; a definition that would run itself is
// stopped at run time with the reason, before it creates anything.
func TestWorkflowNestingAndCycles(t *testing.T) {
	f := newWorkflowFixture(t)
	other, err := f.store.CreateNode(f.ctx, f.admin, nil, model.KindProject, model.NodeInput{Code: "q", Name: "Q"})
	if err != nil {
		t.Fatal(err)
	}
	f.workflow(other, "leaf", change("leaf change", f.web2.Path, "ok"))
	f.workflow(nil, "middle", nested("to leaf", "/projects/q/workflows/leaf"))
	top, topV := f.workflow(nil, "top", nested("to middle", "/projects/p/workflows/middle"), change("top change", f.web1.Path, "ok"))
	r := f.start(top, topV, nil, nil)
	f.finished(r, run.StatusSuccess)
	if n := testutil.Count(t, f.store.DB, "workflow_runs"); n != 3 {
		t.Errorf("%d runs, want 3 (top, middle, leaf)", n)
	}
	if n := testutil.Count(t, f.store.DB, "workflow_runs WHERE parent_step_id IS NOT NULL"); n != 2 {
		t.Errorf("%d nested runs, want 2", n)
	}

	loopA, loopAV := f.workflow(nil, "loop_a", nested("to b", "/projects/p/workflows/loop_b"))
	f.workflow(nil, "loop_b", nested("back to a", "/projects/p/workflows/loop_a"))
	r = f.start(loopA, loopAV, nil, nil)
	f.finished(r, run.StatusError)
	var ev model.Event
	if err := f.store.DB.Where("type = ? AND CAST(attributes AS TEXT) LIKE ?", "api:workflow_steps:error", "%run itself%").Take(&ev).Error; err != nil {
		t.Errorf("no event says the nested workflow would run itself: %v", err)
	}
}

// TestWorkflowCancelAndQueue: a second run of a workflow queues behind the
// first; cancelling the first cancels the change it follows, and the
// second then starts.
func TestWorkflowCancelAndQueue(t *testing.T) {
	f := newWorkflowFixture(t)
	wf, v := f.workflow(nil, "long", change("sleep", f.web1.Path, "slow"))
	first := f.start(wf, v, nil, nil)
	st := testutil.WaitWorkflowStep(t, f.store, first.ID, "sleep", run.StatusRunning)
	second := f.start(wf, v, nil, nil)
	testutil.WaitWorkflowRun(t, f.store, second.ID, run.StatusQueued)
	testutil.WaitStep(t, f.store, *st.ChangeID, func(s *run.Step) bool { return s.Action == "slow" }, run.StatusRunning)
	if _, err := f.store.CancelWorkflowRun(f.ctx, f.admin, first.ID); err != nil {
		t.Fatal(err)
	}
	f.finished(first, run.StatusCancelled)
	testutil.WaitChange(t, f.store, *st.ChangeID, run.StatusCancelled)
	testutil.WaitWorkflowStep(t, f.store, second.ID, "sleep", run.StatusRunning)
	if _, err := f.store.CancelWorkflowRun(f.ctx, f.admin, second.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.CancelWorkflowRun(f.ctx, f.admin, second.ID); steward.AsError(err).Code != "run_finished" {
		t.Errorf("cancelling a finished run = %v", err)
	}
}

// TestWorkflowPlaceholders: {{placeholders}} take the run's property
// overrides; a placeholder without a value refuses the run and writes
// nothing.
func TestWorkflowPlaceholders(t *testing.T) {
	f := newWorkflowFixture(t)
	wf, v := f.workflow(nil, "templated", change("on {{which}}", "/projects/p/environments/prod/assets/{{which}}", "{{deploy.action}}"))
	if _, _, err := f.store.CreateWorkflowRun(f.ctx, f.admin, f.project, wf, v, run.WorkflowRunInput{}); steward.AsError(err).Code != "missing_placeholder_value" {
		t.Fatalf("a run without the values = %v", err)
	}
	if n := testutil.Count(t, f.store.DB, "workflow_runs"); n != 0 {
		t.Fatalf("a refused run left %d rows", n)
	}
	r := f.start(wf, v, nil, model.JSONMap{"which": "web2", "deploy": map[string]any{"action": "ok"}})
	f.finished(r, run.StatusSuccess)
	var c run.Change
	if err := f.store.DB.Take(&c).Error; err != nil || c.NodeID != f.web2.ID || c.Action != "ok" || *c.Name != "on web2" {
		t.Errorf("change = %+v (%v)", c, err)
	}
}

// TestWorkflowRetry: a retry of a failed run keeps what succeeded (no second
// change for it) and what was flagged skip_on_retry, and runs the rest.
func TestWorkflowRetry(t *testing.T) {
	f := newWorkflowFixture(t)
	wf, v := f.workflow(nil, "flaky",
		change("good", f.web1.Path, "ok"),
		change("bad", f.web2.Path, "{{second}}"),
		change("last", f.web1.Path, "ok"))
	r := f.start(wf, v, nil, model.JSONMap{"second": "fail"})
	f.finished(r, run.StatusError)
	// A retry re-runs "bad" with the same overrides, so it fails again;
	// flagging it skip_on_retry lets the next retry pass it.
	first, err := f.store.RetryWorkflowRun(f.ctx, f.admin, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.finished(first, run.StatusError)
	var bad run.WorkflowRunStep
	if err := f.store.DB.Where("run_id = ? AND name = ?", r.ID, "bad").Take(&bad).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetWorkflowStepSkipOnRetry(f.ctx, f.admin, bad.ID, true); err != nil {
		t.Fatal(err)
	}
	again, err := f.store.RetryWorkflowRun(f.ctx, f.admin, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.finished(again, run.StatusSuccess)
	got := f.statuses(again)
	if got["good"] != run.StatusSuccess || got["bad"] != run.StatusSuccess || got["last"] != run.StatusSuccess {
		t.Errorf("retried run: %v", got)
	}
	// good ran once (kept on both retries), last ran once (second retry).
	var runs int64
	if err := f.store.DB.Model(&run.Change{}).Where("node_id = ?", f.web1.ID).Count(&runs).Error; err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Errorf("%d changes on web1, want 2: good once, last once", runs)
	}
	if _, err := f.store.RetryWorkflowRun(f.ctx, f.admin, again.ID); steward.AsError(err).Code != "not_retryable" {
		t.Errorf("retrying a run that succeeded = %v", err)
	}
}

// TestWorkflowStepCreatesItsChangeOnce: many advances of one run at once
// (the engine's and eight more, as replicas would) create exactly one
// change per change step.
func TestWorkflowStepCreatesItsChangeOnce(t *testing.T) {
	f := newWorkflowFixture(t)
	var kids []model.WorkflowStep
	for i := 0; i < 10; i++ {
		kids = append(kids, change(fmt.Sprintf("c%d", i), f.web1.Path, "ok"))
	}
	wf, v := f.workflow(nil, "wide", stage("all", run.Parallel, kids...))
	r := f.start(wf, v, nil, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.store.AdvanceWorkflowRun(f.ctx, r.ID)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("advance: %v", err)
		}
	}
	f.finished(r, run.StatusSuccess)
	if n := testutil.Count(t, f.store.DB, "changes"); n != 10 {
		t.Errorf("%d changes for 10 change steps", n)
	}
}

// TestWorkflowRetryAsksWaitsAgain: an approval given to a run that then
// failed is asked again by its retry, unless flagged skip_on_retry.
func TestWorkflowRetryAsksWaitsAgain(t *testing.T) {
	f := newWorkflowFixture(t)
	wf, v := f.workflow(nil, "gated_fail", wait("gate", nil), change("bad", f.web1.Path, "fail"))
	r := f.start(wf, v, nil, nil)
	gate := testutil.WaitWorkflowStep(t, f.store, r.ID, "gate", run.StatusWaiting)
	if _, err := f.store.ActOnWorkflowStep(f.ctx, f.admin, gate.ID, run.VerbContinue, ""); err != nil {
		t.Fatal(err)
	}
	f.finished(r, run.StatusError)
	retried, err := f.store.RetryWorkflowRun(f.ctx, f.admin, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitWorkflowStep(t, f.store, retried.ID, "gate", run.StatusWaiting)
	if _, err := f.store.CancelWorkflowRun(f.ctx, f.admin, retried.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetWorkflowStepSkipOnRetry(f.ctx, f.admin, gate.ID, true); err != nil {
		t.Fatal(err)
	}
	again, err := f.store.RetryWorkflowRun(f.ctx, f.admin, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.finished(again, run.StatusError) // the gate is kept, bad fails again
	if got := f.statuses(again); got["gate"] != run.StatusSuccess {
		t.Errorf("a gate flagged skip_on_retry: %v", got)
	}
}
