package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/schedule"
	"github.com/stewardhq/steward/pkg/metrics"
)

// Defaults for the zero values of Scheduler's settings.
const (
	DefaultInterval = time.Second
	DefaultLease    = 10 * time.Second
	DefaultParallel = 4
	// DefaultPrepareAhead is how long before a fire time its firings are
	// prepared: enough for 10,000 activities due at once on this kind of
	// machine, short enough that a rev resolved then is the rev at the
	// fire time to within seconds.
	DefaultPrepareAhead = 5 * time.Second
)

// Scheduler evaluates scheduled activities in this process while it holds
// the scheduler lease. Any number of processes may run one against the
// same database.
type Scheduler struct {
	Store *schedule.Store
	Log   *slog.Logger
	Owner string // names this process on the lease; unique per process
	// Interval is the longest the loop waits between evaluations; it also
	// wakes at the earliest next fire time when that comes sooner.
	Interval time.Duration
	// Lease is how long the lease holds without renewal (renewed at every
	// evaluation): how long a dead holder keeps the others waiting.
	Lease time.Duration
	// Parallel is how many due activities are prepared at once (each
	// preparation reads Git).
	Parallel int
	// Writers is how many groups of firings are committed at once (0: the
	// store's default for its dialect, schedule.DueOptions.Writers).
	Writers int
	// PrepareAhead is how long before their fire time firings are prepared
	// (every read done, so that at the fire time only the claim and the
	// inserts remain; see schedule.PrepareAhead); negative turns it off.
	PrepareAhead time.Duration
	// RetentionSchedule is the cron schedule of the retention job (UTC;
	// default @hourly); RetentionBatch the rows it deletes per transaction.
	RetentionSchedule string
	RetentionBatch    int
	// Metrics counts firings by outcome and their lateness (none when nil).
	Metrics *metrics.Metrics

	evaluated model.Signal    // notified after every Tick: what tests wait on
	ahead     *schedule.Ahead // firings prepared while this process leads
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// Prepared is how many activities have firings prepared ahead here.
func (s *Scheduler) Prepared() int {
	if s.ahead == nil {
		return 0
	}
	return s.ahead.Len()
}

// Evaluated is notified after every Tick of this scheduler.
func (s *Scheduler) Evaluated() *model.Signal { return &s.evaluated }

// defaults fills the zero settings.
func (s *Scheduler) defaults() error {
	if s.Store == nil {
		return errors.New("scheduler: a Store is required")
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Lease <= 0 {
		s.Lease = DefaultLease
	}
	if s.Lease < 2*s.Interval {
		s.Lease = 2 * s.Interval
	}
	if s.Parallel <= 0 {
		s.Parallel = DefaultParallel
	}
	if s.PrepareAhead == 0 {
		s.PrepareAhead = DefaultPrepareAhead
	}
	if s.Owner == "" {
		s.Owner = engine.NewOwner()
	}
	return nil
}

// Start checks the settings, makes sure the retention job exists, and
// starts the loop; it stops when ctx ends or at Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.defaults(); err != nil {
		return err
	}
	if err := s.Store.EnsureRetentionJob(ctx, s.RetentionSchedule); err != nil {
		return err
	}
	ctx, s.stop = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.loop(ctx) }()
	s.Log.Info("scheduler started", "owner", s.Owner, "interval", s.Interval, "lease", s.Lease)
	return nil
}

// Stop ends the loop, gives the lease up so another replica takes over at
// once, and waits.
func (s *Scheduler) Stop() {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

// Wait blocks until the loop has stopped.
func (s *Scheduler) Wait() { s.wg.Wait() }

// Tick is one evaluation: take or renew the lease and, when this process
// holds it, handle everything due at the store's now (the firings prepared
// ahead first), then prepare the firings due within PrepareAhead. leader
// reports whether it held the lease. A process that does not hold it keeps
// nothing prepared.
func (s *Scheduler) Tick(ctx context.Context) (res schedule.Result, leader bool, err error) {
	defer s.evaluated.Notify()
	if err := s.defaults(); err != nil {
		return res, false, err
	}
	leader, err = s.Store.AcquireLease(ctx, schedule.LeaseName, s.Owner, s.Lease)
	if err != nil || !leader {
		s.ahead = nil
		return res, false, err
	}
	if s.ahead == nil && s.PrepareAhead > 0 {
		s.ahead = schedule.NewAhead()
	}
	opt := schedule.DueOptions{Parallel: s.Parallel, Writers: s.Writers, Ahead: s.ahead,
		Retention: schedule.RetentionOptions{Batch: s.RetentionBatch}}
	res, err = s.Store.RunDue(ctx, s.Store.Now(), opt)
	s.Metrics.ScheduleEvaluated(res.Fired, res.Skipped, res.Missed, res.Lateness)
	if err == nil && s.ahead != nil {
		var n int
		n, err = s.Store.PrepareAhead(ctx, s.ahead, s.Store.Now(), s.PrepareAhead, opt)
		if n > 0 {
			s.Log.Debug("scheduled firings prepared ahead", "activities", n)
		}
	}
	return res, true, err
}

func (s *Scheduler) loop(ctx context.Context) {
	defer func() {
		// A clean stop hands the lease over now, not Lease later.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Store.ReleaseLease(rctx, schedule.LeaseName, s.Owner); err != nil {
			s.Log.Warn("giving up the scheduler lease failed", "err", err)
		}
	}()
	wasLeader := false
	for {
		res, leader, err := s.Tick(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.Log.Error("evaluating schedules failed", "err", err)
		case leader != wasLeader:
			s.Log.Info("scheduler lease", "held", leader, "owner", s.Owner)
		}
		wasLeader = leader
		if res.Fired+res.Skipped+res.Missed > 0 {
			s.Log.Info("scheduled activities evaluated", "fired", res.Fired, "skipped", res.Skipped, "missed", res.Missed)
		}
		wait := s.Interval
		if leader {
			wait = s.untilNext(ctx, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// untilNext is how long until the earliest next fire time, at most max.
func (s *Scheduler) untilNext(ctx context.Context, max time.Duration) time.Duration {
	next, err := s.Store.NextFireTime(ctx)
	if err != nil || next.IsZero() {
		return max
	}
	d := next.Sub(s.Store.Now())
	if d < 0 {
		return 0
	}
	if d < max {
		return d
	}
	return max
}
