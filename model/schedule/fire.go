package schedule

import (
	"context"
	"errors"
	"sync"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/db"
)

// maxCatchUp bounds the fire times one evaluation of an activity handles
// one by one (a minute schedule down for a day has 1,440); the rest are
// missed in one event that counts them.
const maxCatchUp = 1000

// Result counts what one RunDue did.
type Result struct {
	Activities int // evaluated
	Fired      int // changes or runs created
	Skipped    int
	Missed     int
	Pruned     int // retention runs
	// Lateness is, for each firing made, how long after its fire time its
	// change or run was created.
	Lateness []time.Duration
}

func (r *Result) add(o Result) {
	r.Activities += o.Activities
	r.Fired += o.Fired
	r.Skipped += o.Skipped
	r.Missed += o.Missed
	r.Pruned += o.Pruned
	r.Lateness = append(r.Lateness, o.Lateness...)
}

// DueOptions tunes RunDue.
type DueOptions struct {
	Batch    int // activities read per query (default 500)
	Parallel int // activities prepared at once (default 4): preparing reads Git
	// Writers is how many groups are committed at once (default 1 on
	// SQLite, whose writers take turns, and 3 on PostgreSQL, where groups
	// of distinct activities lock nothing in common).
	Writers   int
	Retention RetentionOptions
	// Ahead holds firings prepared before their fire time (PrepareAhead):
	// RunDue commits those due first, then handles the rest as usual.
	Ahead *Ahead
}

// withDefaults fills opt's zero values.
func (opt DueOptions) withDefaults(s *Store) DueOptions {
	if opt.Batch <= 0 {
		opt.Batch = 500
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 4
	}
	if opt.Writers <= 0 {
		opt.Writers = 1
		if db.DialectOf(s.DB) == db.Postgres {
			opt.Writers = defaultPostgresWriters
		}
	}
	return opt
}

// RunDue handles every enabled activity whose next fire time is at or before
// now, earliest first: each due fire time fires, is skipped or is missed
// (see plan), in transactions that each write a group of activities and
// move their next_run_at on. It is safe to call from any number of
// replicas at once: a fire time another replica handled creates nothing
// here. Reading the due activities, preparing them and committing them
// run at once, one page, preparation or group behind the other.
func (s *Store) RunDue(ctx context.Context, now time.Time, opt DueOptions) (Result, error) {
	opt = opt.withDefaults(s)
	var total Result
	if opt.Ahead != nil {
		// The firings prepared ahead first: their reads are done. One that
		// lost its claim (its activity changed since) and is still due is
		// read and prepared again below.
		if ps := opt.Ahead.take(now); len(ps) > 0 {
			res, err := s.commitPrepared(ctx, ps, opt)
			total.add(res)
			if err != nil {
				return total, err
			}
		}
	}
	due := make(chan *Activity, opt.Batch)
	var readErr error
	go func() {
		defer close(due)
		readErr = s.readWindow(ctx, nil, now, false, opt.Batch, due)
	}()
	res, err := s.evaluateAll(ctx, due, now, opt, newPrepCache())
	total.add(res)
	if err == nil {
		err = readErr
	}
	return total, err
}

// readWindow sends the enabled activities due after after (nil: any time)
// and at or before upTo to out, in (next_run_at, id) order, reading a page
// of batch at a time; aheadOnly keeps those PrepareAhead prepares (changes
// and workflows, not new_commits_only).
func (s *Store) readWindow(ctx context.Context, after *time.Time, upTo time.Time, aheadOnly bool, batch int, out chan<- *Activity) error {
	var lastAt time.Time
	var lastID string
	for {
		var page []Activity
		err := s.Read(ctx, func(db *gorm.DB) error {
			q := db.Where("enabled = ? AND next_run_at IS NOT NULL AND next_run_at <= ?", true, upTo)
			if after != nil {
				q = q.Where("next_run_at > ?", *after)
			}
			if aheadOnly {
				q = q.Where("kind IN ? AND new_commits_only = ?", []string{KindChange, KindWorkflow}, false)
			}
			if lastID != "" {
				// A row value, so that both dialects walk the index from
				// the last page's end instead of filtering every due row.
				q = q.Where("(next_run_at, id) > (?, ?)", lastAt, lastID)
			}
			return q.Order("next_run_at, id").Limit(batch).Find(&page).Error
		})
		if err != nil {
			return err
		}
		for i := range page {
			select {
			case out <- &page[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(page) < batch {
			return nil
		}
		lastAt, lastID = *page[len(page)-1].NextRunAt, page[len(page)-1].ID
	}
}

// maxGroup bounds the activities committed in one transaction: firing
// thousands at one instant costs a few hundred commits, not thousands,
// while no transaction holds the write lock for long.
const maxGroup = 256

// defaultPostgresWriters is DueOptions.Writers on PostgreSQL: while one
// group waits on the server, another is being sent.
const defaultPostgresWriters = 3

// evaluateAll prepares the due activities on opt.Parallel workers (the
// Git reads) and commits them as they come, grouping whatever is ready.
func (s *Store) evaluateAll(ctx context.Context, due <-chan *Activity, now time.Time, opt DueOptions, cache *prepCache) (Result, error) {
	var mu sync.Mutex
	var total Result
	var firstErr error
	fail := func(a *Activity, err error) {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, errNotHandled) {
			return
		}
		s.Log.Error("evaluating a scheduled activity failed", "activity", a.ID, "err", err)
		if ctx.Err() != nil && firstErr == nil {
			firstErr = err
		}
	}
	work := make(chan *Activity)
	ready := make(chan *pending, 4*maxGroup)
	var wg sync.WaitGroup
	for i := 0; i < opt.Parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				res, p, err := s.prepareActivity(ctx, a, now, opt, cache)
				mu.Lock()
				total.add(res)
				mu.Unlock()
				if err != nil {
					fail(a, err)
				} else if p != nil {
					ready <- p
				}
			}
		}()
	}
	go func() {
		defer close(ready)
		defer wg.Wait()
		defer close(work)
		for a := range due {
			if ctx.Err() != nil {
				return
			}
			work <- a
		}
	}()
	s.commitAll(ctx, ready, opt.Writers, true, &mu, &total, fail)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return total, firstErr
}

// commitAll commits the pending activities of ready on writers goroutines,
// each grouping whatever is ready (up to maxGroup) into one transaction,
// adding what they did to total, until ready is closed. wakeEach wakes the
// engine after each group that fired something.
func (s *Store) commitAll(ctx context.Context, ready <-chan *pending, writers int, wakeEach bool, mu *sync.Mutex, total *Result, fail func(*Activity, error)) {
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ready {
				group := []*pending{p}
			more:
				for len(group) < maxGroup {
					select {
					case q, ok := <-ready:
						if !ok {
							break more
						}
						group = append(group, q)
					default:
						break more
					}
				}
				res, err := s.commitGroup(ctx, group)
				if wakeEach && res.Fired > 0 {
					s.Wake()
				}
				mu.Lock()
				total.add(res)
				mu.Unlock()
				if err != nil {
					fail(group[0].a, err)
				}
			}
		}()
	}
	wg.Wait()
}

// planned is one due fire time and what happens to it.
type planned struct {
	at      time.Time
	fire    bool
	missed  int    // for the summary entry: how many more were missed
	reason  string // why it is missed
	prep    Prepared
	skipWhy string // set when preparing failed or new_commits_only found no new commit
	same    bool   // new_commits_only: the commit already fired
}

// plan lists a's due fire times up to now and decides, by its misfire
// policy, which fire: a fire time at most MisfireGrace old is on time and
// fires; skip misses every late one, latest fires the last late one, all
// fires those within the deadline. next is the first fire time after now
// (zero when the schedule ends, or after a one-shot's only firing).
func plan(a *Activity, c *Cron, now time.Time) (times []planned, next time.Time) {
	t := a.NextRunAt.UTC()
	for !t.After(now) && len(times) < maxCatchUp {
		times = append(times, planned{at: t})
		if !a.Repeat {
			return classify(a, times, now), time.Time{}
		}
		t = c.Next(t)
		if t.IsZero() {
			break
		}
	}
	if !t.IsZero() && !t.After(now) {
		// More than maxCatchUp due: count the rest as one missed entry.
		n := 0
		for !t.IsZero() && !t.After(now) && n < 1_000_000 {
			n++
			t = c.Next(t)
		}
		times = classify(a, times, now)
		times = append(times, planned{at: now, missed: n, reason: "too many fire times to catch up"})
		return times, t
	}
	return classify(a, times, now), t
}

func classify(a *Activity, times []planned, now time.Time) []planned {
	for i := range times {
		late := now.Sub(times[i].at)
		switch {
		case late <= MisfireGrace:
			times[i].fire = true
		case a.Misfire == MisfireAll && late <= a.MisfireDeadline():
			times[i].fire = true
		case a.Misfire == MisfireLatest && i == len(times)-1:
			times[i].fire = true
		default:
			times[i].reason = "the scheduler was not running at the fire time (misfire " + a.Misfire + ")"
			if a.Misfire == MisfireAll {
				times[i].reason = "older than the misfire deadline"
			}
		}
	}
	return times
}

// pending is one due activity decided and prepared, waiting for its
// transaction.
type pending struct {
	a        *Activity
	node     *model.Node
	parallel bool // allow_parallel lets a run start while the previous one is active
	times    []planned
	next     time.Time
	now      time.Time
}

// prepareActivity decides what each of a's due fire times does and
// prepares the changes to make, outside any transaction (reading Git). The
// retention job runs here at once; it returns no pending.
func (s *Store) prepareActivity(ctx context.Context, a *Activity, now time.Time, opt DueOptions, cache *prepCache) (Result, *pending, error) {
	if a.Kind == KindRetention {
		res, err := s.runRetention(ctx, a, now, opt.Retention)
		return res, nil, err
	}
	c, err := a.Cron()
	if err != nil {
		// Stored schedules were valid; one that stopped parsing (a zone
		// removed from the tz database) disables itself loudly.
		return Result{Activities: 1}, nil, s.disable(ctx, a, err)
	}
	times, next := plan(a, c, now)
	node, err := cache.node(ctx, s, *a.NodeID)
	if err != nil {
		return Result{}, nil, err
	}
	actor := &model.Actor{Username: a.CreatedBy, System: true}
	lastSHA := a.LastCommitSHA
	for i := range times {
		p := &times[i]
		if !p.fire {
			continue
		}
		prep, err := s.prepare(ctx, actor, node, a, cache)
		if err != nil {
			if k := steward.ErrorKind(err); k == steward.KindInternal || k == steward.KindUnavailable {
				return Result{}, nil, err // try again at the next tick; nothing was written
			}
			p.skipWhy = steward.AsError(err).Detail
			continue
		}
		if a.NewCommitsOnly {
			sha := prep.CommitSHA()
			if lastSHA != nil {
				p.same = *lastSHA == sha
			} else if p.same, err = s.commitUsed(ctx, a, node, sha); err != nil {
				return Result{}, nil, err
			}
			if p.same {
				continue
			}
			lastSHA = &sha
		}
		p.prep = prep
	}
	parallel, err := cache.parallel(ctx, s, a, node)
	if err != nil {
		return Result{}, nil, err
	}
	return Result{}, &pending{a: a, node: node, parallel: parallel, times: times, next: next, now: now}, nil
}

// NextFireTime is the earliest next_run_at of any enabled activity (zero
// when none), so the scheduler can wake for it instead of a tick later.
func (s *Store) NextFireTime(ctx context.Context) (time.Time, error) {
	var a []Activity
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("next_run_at").Where("enabled = ? AND next_run_at IS NOT NULL", true).Order("next_run_at").Limit(1).Find(&a).Error
	})
	if err != nil || len(a) == 0 {
		return time.Time{}, err
	}
	return a[0].NextRunAt.UTC(), nil
}
