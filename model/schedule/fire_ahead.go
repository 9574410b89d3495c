package schedule

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Preparing ahead: fire times are known in advance, so a little before
// one the leader does every read its firings need (the activity, its node,
// the rev -> commit through the mirror, the step tree, the workflow
// version), and at the fire time only the claim and the inserts remain.
// What a firing checks at commit is still checked there: the firing row's
// uniqueness, the overlap rule, archived nodes, and the activity being
// still enabled and unchanged (its claim compares next_run_at and
// updated_at with the values read ahead: a PATCH in between makes the
// prepared firing lose its claim, and the activity, still due, is prepared
// again at the fire time with its new definition). Preparing writes
// nothing, so prepared firings a dead leader held are not lost: the next
// leader finds their activities due and fires them, once.
//
// new_commits_only activities are not prepared ahead: whether a commit is
// new is decided by the rev at the fire time. Retention runs at its time.

// Ahead holds the firings PrepareAhead prepared until RunDue commits them.
// One scheduler keeps one while it holds the lease; it is safe for
// concurrent use.
type Ahead struct {
	mu sync.Mutex
	// until is the end of the window read so far: an activity created or
	// rescheduled into it later is not prepared, and fires through RunDue's
	// ordinary path at its time.
	until   time.Time
	pending map[string]*pending // by activity id
}

// NewAhead is an empty Ahead.
func NewAhead() *Ahead { return &Ahead{pending: map[string]*pending{}} }

// Len is how many activities have firings prepared.
func (h *Ahead) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pending)
}

// take removes the prepared activities due at now and returns those still
// valid at now, earliest first: a firing prepared as on time at its fire
// time is valid while it still is (now within MisfireGrace of it) and its
// next fire time is not due too; others are left to RunDue's ordinary path,
// which plans them again at now.
func (h *Ahead) take(now time.Time) []*pending {
	h.mu.Lock()
	defer h.mu.Unlock()
	var due []*pending
	for id, p := range h.pending {
		at := *p.a.NextRunAt
		if at.After(now) {
			continue
		}
		delete(h.pending, id)
		if now.Sub(at) <= MisfireGrace && (p.next.IsZero() || p.next.After(now)) {
			p.now = now
			due = append(due, p)
		}
	}
	slices.SortFunc(due, func(x, y *pending) int {
		if c := x.a.NextRunAt.Compare(*y.a.NextRunAt); c != 0 {
			return c
		}
		return cmp.Compare(x.a.ID, y.a.ID)
	})
	return due
}

// PrepareAhead prepares the firings of the activities due after now and up
// to now+lead that ahead has not read yet, each as at its fire time, and
// keeps them in ahead. It writes nothing. It returns how many it prepared.
func (s *Store) PrepareAhead(ctx context.Context, ahead *Ahead, now time.Time, lead time.Duration, opt DueOptions) (int, error) {
	opt = opt.withDefaults(s)
	ahead.mu.Lock()
	from := ahead.until
	if from.Before(now) {
		from = now
	}
	until := now.Add(lead)
	if !until.After(from) {
		ahead.mu.Unlock()
		return 0, nil
	}
	ahead.until = until
	ahead.mu.Unlock()

	due := make(chan *Activity, opt.Batch)
	var readErr error
	go func() {
		defer close(due)
		readErr = s.readWindow(ctx, &from, until, true, opt.Batch, due)
	}()
	cache := newPrepCache()
	var n int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < opt.Parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range due {
				_, p, err := s.prepareActivity(ctx, a, *a.NextRunAt, opt, cache)
				if err != nil {
					// Nothing is lost: the activity fires through the
					// ordinary path at its time.
					if !errors.Is(err, errNotHandled) && ctx.Err() == nil {
						s.Log.Warn("preparing a scheduled activity ahead failed", "activity", a.ID, "err", err)
					}
					continue
				}
				if p == nil {
					continue
				}
				ahead.mu.Lock()
				ahead.pending[a.ID] = p
				ahead.mu.Unlock()
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return n, readErr
}

// commitPrepared commits the firings prepared ahead (take's), as RunDue
// commits those it prepares, and then wakes the engine.
func (s *Store) commitPrepared(ctx context.Context, ps []*pending, opt DueOptions) (Result, error) {
	var mu sync.Mutex
	var total Result
	ready := make(chan *pending, len(ps))
	for _, p := range ps {
		ready <- p
	}
	close(ready)
	// The engine is woken once, when the burst is written: woken at each
	// group, its claims would take turns with the next groups for SQLite's
	// write lock (and the cores) while the fire time's firings are made.
	s.commitAll(ctx, ready, opt.Writers, false, &mu, &total, func(a *Activity, err error) {
		// Not fatal: the activity is still due, and RunDue's ordinary
		// path, which runs next, tries it again.
		if !errors.Is(err, errNotHandled) {
			s.Log.Error("firing a prepared scheduled activity failed", "activity", a.ID, "err", err)
		}
	})
	if total.Fired > 0 {
		s.Wake()
	}
	return total, ctx.Err()
}
