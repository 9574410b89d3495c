package scheduler_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/schedule"
	"github.com/stewardhq/steward/pkg/metrics"
	"github.com/stewardhq/steward/pkg/secret"
	"github.com/stewardhq/steward/scheduler"
)

// replicas is one database shared by several processes' stores, on one
// settable clock, with n activities firing hello every minute.
type replicas struct {
	url   string
	clock *testutil.Clock
	ctx   context.Context
}

var start = time.Date(2025, 6, 2, 10, 0, 30, 0, time.UTC)

func (r *replicas) store(t *testing.T) *schedule.Store {
	t.Helper()
	runs := testutil.StoreAt(t, r.url)
	runs.Git = gitops.NewMirrors(filepath.Join(t.TempDir(), "mirrors"))
	runs.Git.AllowLocal = true
	box, err := secret.New(bytes.Repeat([]byte{0x5e}, 32))
	if err != nil {
		t.Fatal(err)
	}
	runs.Secrets, runs.Now, runs.Git.Now = box, r.clock.Now, r.clock.Now
	return schedule.New(runs, nil)
}

func setup(t *testing.T, activities int) (*replicas, *schedule.Store) {
	t.Helper()
	r := &replicas{url: testutil.DatabaseURL(t), clock: testutil.NewClock(start), ctx: context.Background()}
	s := r.store(t)
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": "actions:\n  hello:\n    run: echo hello\n"})
	p, err := s.CreateNode(r.ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGitRemote(r.ctx, model.SystemActor, p, model.GitRemoteInput{Name: "origin", URL: repo.URL()}); err != nil {
		t.Fatal(err)
	}
	remote, rev := "origin", "main"
	for i := 0; i < activities; i++ {
		env, err := s.CreateNode(r.ctx, model.SystemActor, p, model.KindEnvironment, model.NodeInput{Code: fmt.Sprintf("e%d", i), Name: "E"})
		if err != nil {
			t.Fatal(err)
		}
		action := "hello"
		if _, err := s.Create(r.ctx, model.SystemActor, env, schedule.Input{Action: &action, GitRemoteName: &remote, GitRev: &rev,
			CronSchedule: "*/1 * * * *", Repeat: true}); err != nil {
			t.Fatal(err)
		}
	}
	return r, s
}

// firedOnce checks that every activity fired exactly once at the minute.
func firedOnce(t *testing.T, s *schedule.Store, n int) {
	t.Helper()
	changes := testutil.Count(t, s.DB, "changes")
	firings := testutil.Count(t, s.DB, "scheduled_firings WHERE outcome = 'fired'")
	var distinct int64
	if err := s.DB.Raw("SELECT COUNT(DISTINCT activity_id) FROM scheduled_firings WHERE outcome = 'fired'").Scan(&distinct).Error; err != nil {
		t.Fatal(err)
	}
	if changes != int64(n) || firings != int64(n) || distinct != int64(n) {
		t.Fatalf("%d changes, %d firings of %d activities; want %d of each", changes, firings, distinct, n)
	}
}

// The leader dies part-way through a minute's firings: the other replica
// waits while the lease holds, takes it over once it expired, and makes
// the rest. Every due firing is made exactly once.
func TestSchedulerLeaderStoppedMidMinute(t *testing.T) {
	t.Parallel()
	const n = 12
	r, _ := setup(t, n)
	a := &scheduler.Scheduler{Store: r.store(t), Owner: "a", Lease: 10 * time.Second, Parallel: 1}
	b := &scheduler.Scheduler{Store: r.store(t), Owner: "b", Lease: 10 * time.Second, Parallel: 1}
	r.clock.Advance(start.Truncate(time.Minute).Add(time.Minute + 200*time.Millisecond).Sub(r.clock.Now()))

	// a is killed right after its first committed firing.
	actx, kill := context.WithCancel(r.ctx)
	moved, unsubscribe := a.Store.Moved().Subscribe()
	go func() { <-moved; kill() }()
	resA, leader, _ := a.Tick(actx)
	unsubscribe()
	if !leader || resA.Fired < 1 || resA.Fired >= n {
		t.Fatalf("a: leader %v, fired %d (want part of the minute)", leader, resA.Fired)
	}
	// b is kept out while a's lease holds, although a does nothing more.
	if resB, leader, err := b.Tick(r.ctx); err != nil || leader || resB.Fired != 0 {
		t.Fatalf("b before the lease expired: leader %v %+v %v", leader, resB, err)
	}
	r.clock.Advance(11 * time.Second) // a's lease lapses; the firings are still on time
	// What a committed is counted in the database: a group a's writers
	// committed as it was killed may be missing from a's own result.
	byA := testutil.Count(t, b.Store.DB, "changes")
	resB, leader, err := b.Tick(r.ctx)
	if err != nil || !leader || byA+int64(resB.Fired) != n {
		t.Fatalf("b after taking over: leader %v %+v %v (a committed %d, reported %d)", leader, resB, err, byA, resA.Fired)
	}
	if res, leader, err := a.Tick(r.ctx); err != nil || leader || res.Fired != 0 {
		t.Fatalf("a coming back: leader %v %+v %v", leader, res, err)
	}
	firedOnce(t, b.Store, n)
}

// Without the lease (two evaluations at once, as a lease taken over at the
// wrong moment would allow), the firing rows still let each fire time
// make one change.
func TestSchedulerConcurrentEvaluationsFireOnce(t *testing.T) {
	t.Parallel()
	const n = 12
	r, _ := setup(t, n)
	stores := []*schedule.Store{r.store(t), r.store(t), r.store(t)}
	r.clock.Advance(start.Truncate(time.Minute).Add(time.Minute + time.Second).Sub(r.clock.Now()))
	var wg sync.WaitGroup
	results := make([]schedule.Result, len(stores))
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.RunDue(r.ctx, r.clock.Now(), schedule.DueOptions{Parallel: 2})
			if err != nil {
				t.Errorf("RunDue: %v", err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	total := 0
	for _, res := range results {
		total += res.Fired
	}
	if total != n {
		t.Fatalf("fired %d in all (%+v), want %d", total, results, n)
	}
	firedOnce(t, stores[0], n)
}

// The running service fires on its own; the test waits on its Evaluated
// signal, never on time. A clean stop gives the lease up.
func TestSchedulerStartFiresAndStopReleasesLease(t *testing.T) {
	t.Parallel()
	r, s := setup(t, 1)
	r.clock.Advance(start.Truncate(time.Minute).Add(time.Minute + time.Second).Sub(r.clock.Now()))
	m := metrics.New()
	sch := &scheduler.Scheduler{Store: s, Owner: "solo", Interval: 10 * time.Millisecond, Metrics: m}
	evaluated, unsubscribe := sch.Evaluated().Subscribe()
	defer unsubscribe()
	if err := sch.Start(r.ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for testutil.Count(t, s.DB, "changes") == 0 {
		select {
		case <-evaluated:
		case <-deadline:
			t.Fatal("no change fired")
		}
	}
	sch.Stop()
	// The firing is counted, with its lateness.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`steward_schedule_firings_total{outcome="fired"} 1`, "steward_schedule_lateness_seconds_count 1"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if owner, _, err := s.LeaseHolder(r.ctx, schedule.LeaseName); err != nil || owner != "" {
		t.Fatalf("lease after Stop: %q %v", owner, err)
	}
	if n := testutil.Count(t, s.DB, "scheduled_activities WHERE kind = 'retention'"); n != 1 {
		t.Fatalf("%d retention jobs", n)
	}
}

// The leader prepares a minute's firings ahead and dies before their fire
// time: preparing wrote nothing, so the next leader fires every one, once.
// The old leader, back, holds no lease: it drops what it prepared.
func TestSchedulerLeaderDiesAfterPreparing(t *testing.T) {
	t.Parallel()
	const n = 5
	r, _ := setup(t, n)
	a := &scheduler.Scheduler{Store: r.store(t), Owner: "a", Lease: 10 * time.Second}
	b := &scheduler.Scheduler{Store: r.store(t), Owner: "b", Lease: 10 * time.Second}
	fire := start.Truncate(time.Minute).Add(time.Minute)
	r.clock.Advance(fire.Add(-3 * time.Second).Sub(r.clock.Now()))
	if res, leader, err := a.Tick(r.ctx); err != nil || !leader || res.Fired != 0 || a.Prepared() != n {
		t.Fatalf("a before the fire time: leader %v %+v %v, prepared %d", leader, res, err, a.Prepared())
	}
	if _, leader, err := b.Tick(r.ctx); err != nil || leader || b.Prepared() != 0 {
		t.Fatalf("b while a leads: leader %v %v, prepared %d", leader, err, b.Prepared())
	}
	r.clock.Advance(fire.Add(8 * time.Second).Sub(r.clock.Now())) // a's lease lapsed; still on time
	if res, leader, err := b.Tick(r.ctx); err != nil || !leader || res.Fired != n {
		t.Fatalf("b after taking over: leader %v %+v %v", leader, res, err)
	}
	firedOnce(t, b.Store, n)
	if res, leader, err := a.Tick(r.ctx); err != nil || leader || res.Fired != 0 || a.Prepared() != 0 {
		t.Fatalf("a back: leader %v %+v %v, prepared %d", leader, res, err, a.Prepared())
	}
	firedOnce(t, b.Store, n)
}
