package run_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/model"
)

// These tests drive the state machine by hand, as workers would, without
// an engine: claims, leases, finishes and the reaper.

const machineActions = `actions:
  one:
    run: echo one
  fan:
    run_as: parallel
    steps: [one, one, one, one, one, one]
  two:
    steps: [one, one]
`

type machine struct {
	store   *run.Store
	project *model.Node
	ctx     context.Context
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	store, p := remoteStore(t)
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": machineActions})
	m := &machine{store: store, project: p, ctx: context.Background()}
	if _, err := store.CreateGitRemote(m.ctx, model.SystemActor, p, model.GitRemoteInput{Name: "origin", URL: repo.URL()}); err != nil {
		t.Fatal(err)
	}
	return m
}

// start creates a change of action and advances it, queueing its first steps.
func (m *machine) start(t *testing.T, action string) *run.Change {
	t.Helper()
	remote, rev := "origin", "main"
	c, err := m.store.CreateChange(m.ctx, model.SystemActor, m.project, run.ChangeInput{Action: action, GitRemoteName: &remote, GitRev: &rev})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.store.AdvanceChange(m.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	return c
}

func (m *machine) claim(t *testing.T, owner string, lease time.Duration) *run.Step {
	t.Helper()
	st, _, err := m.store.ClaimStep(m.ctx, owner, lease)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (m *machine) change(t *testing.T, id string) *run.Change {
	t.Helper()
	var c run.Change
	if err := m.store.DB.Where("id = ?", id).Take(&c).Error; err != nil {
		t.Fatal(err)
	}
	return &c
}

func (m *machine) eventCount(t *testing.T, typ string) int64 {
	t.Helper()
	var n int64
	if err := m.store.DB.Model(&model.Event{}).Where("type = ?", typ).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConcurrentFinishes finishes six parallel siblings at once: the
// change lock serialises them, so the parent and the change end exactly
// once, whoever finishes last.
func TestConcurrentFinishes(t *testing.T) {
	m := newMachine(t)
	c := m.start(t, "fan")
	var claimed []*run.Step
	for st := m.claim(t, "w", time.Minute); st != nil; st = m.claim(t, "w", time.Minute) {
		claimed = append(claimed, st)
	}
	if len(claimed) != 6 {
		t.Fatalf("claimed %d parallel steps, want 6", len(claimed))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(claimed))
	for _, st := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- m.store.FinishStep(m.ctx, st.ID, "w", run.StepResult{OK: true})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := m.change(t, c.ID); got.Status != run.StatusSuccess {
		t.Fatalf("change is %s", got.Status)
	}
	if n := m.eventCount(t, "api:steps:success"); n != 7 {
		t.Errorf("%d step success events, want 7 (six children and the parent)", n)
	}
	if n := m.eventCount(t, "api:changes:success"); n != 1 {
		t.Errorf("%d change success events", n)
	}
	// Advancing a finished change writes nothing.
	before := m.eventCount(t, "api:steps:start")
	if err := m.store.AdvanceChange(m.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if after := m.eventCount(t, "api:steps:start"); after != before {
		t.Errorf("advancing a finished change recorded events")
	}
}

// TestLeases covers what a worker meets: renewals, a cancel under it, a
// step it no longer holds, nothing to claim.
func TestLeases(t *testing.T) {
	m := newMachine(t)
	if st := m.claim(t, "w", time.Minute); st != nil {
		t.Fatalf("claimed %s from an empty queue", st.ID)
	}
	c := m.start(t, "two")
	st := m.claim(t, "w", time.Minute)
	if st == nil || st.Status != run.StatusRunning || st.LeaseOwner == nil || *st.LeaseOwner != "w" || st.StartedAt == nil {
		t.Fatalf("claimed %+v", st)
	}
	if again := m.claim(t, "other", time.Minute); again != nil {
		t.Fatalf("a second claim got %s while the first step runs", again.ID)
	}
	if held, err := m.store.RenewLease(m.ctx, st.ID, "w", time.Minute); err != nil || !held {
		t.Fatalf("renew = %v, %v", held, err)
	}
	if held, err := m.store.RenewLease(m.ctx, st.ID, "other", time.Minute); err != nil || held {
		t.Fatalf("another worker renewed: %v, %v", held, err)
	}
	if err := m.store.FinishStep(m.ctx, st.ID, "other", run.StepResult{OK: true}); steward.ErrorKind(err) != steward.KindConflict {
		t.Fatalf("finish by another worker = %v, want a conflict", err)
	}
	if _, err := m.store.CancelChange(m.ctx, model.SystemActor, c.ID); err != nil {
		t.Fatal(err)
	}
	if held, err := m.store.RenewLease(m.ctx, st.ID, "w", time.Minute); err != nil || held {
		t.Fatalf("renew after cancel = %v, %v; want false so the worker kills its process", held, err)
	}
	if err := m.store.FinishStep(m.ctx, st.ID, "w", run.StepResult{Reason: "cancelled"}); err != nil {
		t.Fatalf("finishing a cancelled step: %v", err)
	}
	if got := m.change(t, c.ID); got.Status != run.StatusCancelled {
		t.Errorf("change is %s", got.Status)
	}
	if st := m.claim(t, "w", time.Minute); st != nil {
		t.Errorf("claimed %s of a cancelled change", st.ID)
	}
}

// TestReapExpiredLeases ends a step whose worker stopped renewing: error,
// a log line naming the worker, the change moves on; a live lease is left.
func TestReapExpiredLeases(t *testing.T) {
	m := newMachine(t)
	lost := m.start(t, "two")
	st := m.claim(t, "dead", time.Second)
	live := m.start(t, "one")
	liveStep := m.claim(t, "alive", time.Hour)
	if n, err := m.store.ReapExpiredLeases(m.ctx); err != nil || n != 0 {
		t.Fatalf("reaped %d (%v) before any lease lapsed", n, err)
	}
	now := m.store.Now
	m.store.Now = func() time.Time { return now().Add(time.Minute) }
	if n, err := m.store.ReapExpiredLeases(m.ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d, %v; want 1", n, err)
	}
	if n, _ := m.store.ReapExpiredLeases(m.ctx); n != 0 {
		t.Errorf("reaped %d on the second pass", n)
	}
	if got := m.change(t, lost.ID); got.Status != run.StatusError {
		t.Errorf("change of the lost step is %s", got.Status)
	}
	var lines []run.LogLine
	if err := m.store.DB.Where("step_id = ?", st.ID).Find(&lines).Error; err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0].Message, "(dead) was lost") {
		t.Errorf("log of the lost step: %+v", lines)
	}
	if err := m.store.FinishStep(m.ctx, st.ID, "dead", run.StepResult{OK: true}); steward.ErrorKind(err) != steward.KindConflict {
		t.Errorf("a late finish from the lost worker = %v, want a conflict", err)
	}
	if held, _ := m.store.RenewLease(m.ctx, liveStep.ID, "alive", time.Hour); !held {
		t.Error("the live lease was reaped")
	}
	if got := m.change(t, live.ID); got.Status != run.StatusRunning {
		t.Errorf("the live change is %s", got.Status)
	}
}

// TestConcurrentReapersLogOnce: reapers on several replicas find the same
// lapsed lease at once; the step ends once, with one log line.
func TestConcurrentReapersLogOnce(t *testing.T) {
	m := newMachine(t)
	m.start(t, "one")
	st := m.claim(t, "dead", time.Second)
	now := m.store.Now
	m.store.Now = func() time.Time { return now().Add(time.Minute) }
	const reapers = 4
	var wg sync.WaitGroup
	var total atomic.Int32
	for i := 0; i < reapers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := m.store.ReapExpiredLeases(m.ctx)
			if err != nil {
				t.Error(err)
			}
			total.Add(int32(n))
		}()
	}
	wg.Wait()
	if total.Load() != 1 {
		t.Errorf("%d reapers ended the step %d times", reapers, total.Load())
	}
	var lines int64
	if err := m.store.DB.Model(&run.LogLine{}).Where("step_id = ?", st.ID).Count(&lines).Error; err != nil {
		t.Fatal(err)
	}
	if lines != 1 {
		t.Errorf("the lost step has %d log lines, want 1", lines)
	}
}

// TestEndStepsOf ends a gone owner's steps at once, lease or not, and
// leaves everyone else's.
func TestEndStepsOf(t *testing.T) {
	m := newMachine(t)
	gone := m.start(t, "one")
	goneStep := m.claim(t, "gone", time.Hour)
	live := m.start(t, "two") // another action: it does not queue behind the first
	m.claim(t, "alive", time.Hour)
	if n, err := m.store.EndStepsOf(m.ctx, "gone"); err != nil || n != 1 {
		t.Fatalf("ended %d (%v), want 1", n, err)
	}
	if got := m.change(t, gone.ID); got.Status != run.StatusError {
		t.Errorf("the gone owner's change is %s", got.Status)
	}
	if got := m.change(t, live.ID); got.Status != run.StatusRunning {
		t.Errorf("another owner's change is %s", got.Status)
	}
	var lines []run.LogLine
	if err := m.store.DB.Where("step_id = ?", goneStep.ID).Find(&lines).Error; err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0].Message, "(gone) stopped before it finished") {
		t.Errorf("log of the ended step: %+v", lines)
	}
	if n, _ := m.store.EndStepsOf(m.ctx, ""); n != 0 {
		t.Errorf("an empty owner ended %d steps", n)
	}
}

// TestPropertyPatchKeepsNumbersExact: the RFC 6902 patch a step writes is
// applied without rounding the numbers already there or the ones it adds.
func TestPropertyPatchKeepsNumbersExact(t *testing.T) {
	m := newMachine(t)
	big := "123456789012345678901234567890"
	var data model.JSONMap
	if err := json.Unmarshal([]byte(`{"big":`+big+`,"keep":0.1}`), &data); err != nil {
		t.Fatal(err)
	}
	if _, err := m.store.UpdatePropertySet(m.ctx, model.SystemActor, model.KindProperties, m.project.PropertiesID,
		model.PropertySetUpdate{Data: data}); err != nil {
		t.Fatal(err)
	}
	m.start(t, "one")
	st := m.claim(t, "w", time.Minute)
	patch := `[{"op":"add","path":"/added","value":98765432109876543210.0123456789},{"op":"add","path":"/e","value":1e400},` +
		`{"op":"copy","from":"/big","path":"/copy"}]`
	if err := m.store.FinishStep(m.ctx, st.ID, "w", run.StepResult{OK: true, PropertyPatch: []byte(patch)}); err != nil {
		t.Fatal(err)
	}
	ps, err := m.store.GetPropertySet(m.ctx, model.KindProperties, m.project.PropertiesID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"big": json.Number(big), "keep": 0.1, "copy": json.Number(big),
		"added": json.Number("98765432109876543210.0123456789"), "e": json.Number("1" + strings.Repeat("0", 400))}
	for k, w := range want {
		if ps.Data[k] != w {
			t.Errorf("%s = %#v, want %#v", k, ps.Data[k], w)
		}
	}
}
