package schedule

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// Event types of firings that made nothing.
const (
	EventMissed  = "warning:scheduled_activity:missed"
	EventSkipped = "warning:scheduled_activity:skipped"
)

// claim moves a's next_run_at from the value this evaluation read to next,
// or reports errNotHandled when another evaluation already moved it. On
// PostgreSQL the row lock it takes also makes a concurrent evaluation of
// the same activity wait, then find nothing to do.
func claim(tx *gorm.DB, a *Activity, next *time.Time, enabled bool, now time.Time) error {
	r := tx.Model(&Activity{}).Where("id = ? AND enabled = ? AND next_run_at = ?", a.ID, true, *a.NextRunAt).
		Updates(map[string]any{"next_run_at": next, "enabled": enabled, "updated_at": now})
	if r.Error != nil {
		return r.Error
	}
	if r.RowsAffected != 1 {
		return errNotHandled
	}
	return nil
}

// outcome is what one due fire time of an activity makes: a firing row and
// either the run it creates or the event saying why it made nothing. The
// summary of fire times too many to list has an event and no row.
type outcome struct {
	firing *Firing
	run    Prepared
	event  *pendingEvent
	lost   bool // the firing row existed already: this fire time was handled
	// workflow: the run is a workflow run, whose id is known once inserted.
	workflow bool
}

// pendingEvent is an event decided before the firing that causes it won.
type pendingEvent struct {
	typ   string
	at    time.Time
	attrs model.JSONMap
}

// decided is one activity of a group and the outcome of each due fire time.
type decided struct {
	p        *pending
	outcomes []outcome
	claimed  bool
}

// groupReads is what the decisions of a group read in its transaction, in
// a few queries for the whole group.
type groupReads struct {
	active map[string]bool   // previous runs (by id) that have not ended
	closed map[string]string // nodes archived, or below an archived node: why
}

// commitGroup writes the firings of group in one transaction (its caller
// wakes the engine for what it fired). When that
// fails (one is broken), each is written on its own, so one activity never
// holds the others back. A fire time another replica handled is not a
// failure: its activity's claim or its firing row loses, and the rest of
// the group is written.
func (s *Store) commitGroup(ctx context.Context, group []*pending) (Result, error) {
	var res Result
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var err error
		res, err = s.writeGroup(tx, group)
		return err
	})
	switch {
	case err == nil:
		return res, nil
	case len(group) > 1:
		var total Result
		for _, p := range group {
			r, err := s.commitGroup(ctx, []*pending{p})
			total.add(r)
			if err != nil && !errors.Is(err, errNotHandled) {
				s.Log.Error("firing a scheduled activity failed", "activity", p.a.ID, "err", err)
			}
		}
		return total, nil
	case model.IsDuplicate(err):
		return Result{Activities: 1}, errNotHandled
	}
	return Result{Activities: 1}, err
}

// writeGroup decides every due fire time of group inside tx (the overlap
// rule and archived nodes are read there), claims the activities by moving
// next_run_at on from the values this evaluation read (one another
// evaluation moved already is left alone), inserts the firing rows, each
// unless its (activity, fire time) exists, and then, for the rows that
// were inserted only, the changes and runs they create and their events:
// a firing row and what it made exist together or not at all.
func (s *Store) writeGroup(tx *gorm.DB, group []*pending) (res Result, err error) {
	stamp := s.Now()
	reads, err := s.readGroup(tx, group)
	if err != nil {
		return res, err
	}
	ds := make([]*decided, len(group))
	for i, p := range group {
		ds[i] = decide(p, reads, stamp)
	}
	if err := claimAll(tx, ds, stamp); err != nil {
		return res, err
	}
	if err := insertFirings(tx, ds); err != nil {
		return res, err
	}
	var changes []*run.PreparedChange
	var events []*model.Event
	for _, d := range ds {
		res.Activities++
		if !d.claimed {
			continue
		}
		for i := range d.outcomes {
			o := &d.outcomes[i]
			switch {
			case o.lost:
			case o.run != nil:
				if err := s.insertRun(tx, o, &changes); err != nil {
					return res, err
				}
				res.Fired++
				res.Lateness = append(res.Lateness, stamp.Sub(o.firing.FireAt))
			case o.event != nil:
				if o.event.typ == EventSkipped {
					res.Skipped++
				} else if n, ok := o.event.attrs["count"].(int); ok {
					res.Missed += n
				} else {
					res.Missed++
				}
				events = append(events, s.newEvent(d.p.a, o.event))
			}
		}
	}
	if err := run.InsertAll(tx, changes, stamp); err != nil {
		return res, err
	}
	if err := fixLast(tx, ds); err != nil {
		return res, err
	}
	return res, s.InsertEvents(tx, events)
}

// insertRun creates the run of a fired firing that won: a change joins
// changes (inserted together), a workflow run is inserted now and its id
// written onto the firing row.
func (s *Store) insertRun(tx *gorm.DB, o *outcome, changes *[]*run.PreparedChange) error {
	if pc, ok := o.run.(preparedChange); ok {
		*changes = append(*changes, pc.PreparedChange)
		return nil
	}
	if err := o.run.Insert(tx); err != nil {
		return err
	}
	id := o.run.RunID()
	o.firing.RunID = &id
	return tx.Model(&Firing{}).Where("activity_id = ? AND fire_at = ?", o.firing.ActivityID, o.firing.FireAt).
		Update("run_id", id).Error
}

// readGroup reads, for the whole group, which previous runs are still
// active (only where parallel runs are not allowed) and which nodes were
// archived since the evaluation prepared their changes.
func (s *Store) readGroup(tx *gorm.DB, group []*pending) (*groupReads, error) {
	reads := &groupReads{active: map[string]bool{}, closed: map[string]string{}}
	var changeRuns []string
	nodes := map[string]*model.Node{}
	for _, p := range group {
		nodes[p.node.ID] = p.node
		if p.a.LastRunID == nil || p.parallel || !fires(p.times) {
			continue
		}
		if p.a.Kind == KindWorkflow && s.Workflows != nil {
			active, err := s.Workflows.RunActive(tx, *p.a.LastRunID)
			if err != nil {
				return nil, err
			}
			reads.active[*p.a.LastRunID] = active
			continue
		}
		changeRuns = append(changeRuns, *p.a.LastRunID)
	}
	active, err := run.ChangesActive(tx, changeRuns)
	if err != nil {
		return nil, err
	}
	for id := range active {
		reads.active[id] = true
	}
	closed, err := run.NodesClosed(tx, nodes)
	if err != nil {
		return nil, err
	}
	reads.closed = closed
	return reads, nil
}

func fires(times []planned) bool {
	for i := range times {
		if times[i].fire {
			return true
		}
	}
	return false
}

// decide is, for each of p's due fire times, its firing row and what it
// makes: a missed one its event, a skipped one (no change could be made,
// its node was archived, or its previous run is still active and parallel
// runs are not allowed) its event, a fired one its run.
func decide(p *pending, reads *groupReads, stamp time.Time) *decided {
	a := p.a
	d := &decided{p: p}
	firing := func(at time.Time, outcome string, reason string) *Firing {
		f := &Firing{ActivityID: a.ID, FireAt: at.UTC(), Outcome: outcome, CreatedAt: stamp}
		if reason != "" {
			f.Reason = &reason
		}
		return f
	}
	skip := func(at time.Time, why string) {
		d.outcomes = append(d.outcomes, outcome{firing: firing(at, OutcomeSkipped, why),
			event: &pendingEvent{EventSkipped, at, model.JSONMap{"reason": why}}})
	}
	lastRun := ""
	if a.LastRunID != nil {
		lastRun = *a.LastRunID
	}
	lastActive := lastRun != "" && reads.active[lastRun]
	for i := range p.times {
		t := &p.times[i]
		switch {
		case t.missed > 0:
			d.outcomes = append(d.outcomes, outcome{event: &pendingEvent{EventMissed, p.now, model.JSONMap{"count": t.missed,
				"reason": t.reason, "up_to": p.now.UTC().Format(time.RFC3339)}}})
		case !t.fire:
			d.outcomes = append(d.outcomes, outcome{firing: firing(t.at, OutcomeMissed, t.reason),
				event: &pendingEvent{EventMissed, t.at, model.JSONMap{"reason": t.reason}}})
		case t.same:
			// new_commits_only and no new commit: nothing to fire, nothing wrong.
		case t.skipWhy != "":
			skip(t.at, t.skipWhy)
		case reads.closed[p.node.ID] != "":
			skip(t.at, reads.closed[p.node.ID])
		case lastActive && !p.parallel:
			prev := "the previous run "
			if lastRun != "" {
				prev += lastRun + " "
			}
			skip(t.at, prev+"is still active and allow_parallel does not allow runs of the same "+a.Kind+" at once")
		default:
			f := firing(t.at, OutcomeFired, "")
			_, isChange := t.prep.(preparedChange)
			if isChange {
				id := t.prep.RunID()
				f.RunID = &id // a workflow run learns its id as it is inserted
			}
			d.outcomes = append(d.outcomes, outcome{firing: f, run: t.prep, workflow: !isChange})
			lastRun, lastActive = t.prep.RunID(), true
		}
	}
	return d
}

func (s *Store) newEvent(a *Activity, ev *pendingEvent) *model.Event {
	attrs := ev.attrs
	attrs["fire_at"] = ev.at.UTC().Format("2006-01-02T15:04:05.000000Z")
	attrs["cron_schedule"] = a.CronSchedule
	attrs["timezone"] = a.Timezone
	attrs["misfire"] = a.Misfire
	return s.NewEvent(model.SystemActor, ev.typ, a.EventSource(), attrs)
}

func (s *Store) event(tx *gorm.DB, a *Activity, typ string, at time.Time, attrs model.JSONMap) error {
	return s.InsertEvents(tx, []*model.Event{s.newEvent(a, &pendingEvent{typ, at, attrs})})
}

// disable switches off an activity whose schedule can no longer be read.
func (s *Store) disable(ctx context.Context, a *Activity, cause error) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		if err := claim(tx, a, nil, false, s.Now()); err != nil {
			return err
		}
		return s.event(tx, a, EventSkipped, *a.NextRunAt, model.JSONMap{"reason": "disabled: " + steward.AsError(cause).Detail})
	})
}
