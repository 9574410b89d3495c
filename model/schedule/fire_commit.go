package schedule

import (
	"context"
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

// writeBatch is what the activities of one transaction write together
// once each has been decided: their firing rows and their changes, in a
// few multi-row statements.
type writeBatch struct {
	firings []*Firing
	changes []*run.PreparedChange
	others  int             // workflow runs, inserted as they are decided
	created map[string]bool // runs created in this transaction (active, for the overlap rule)
}

func newWriteBatch() *writeBatch { return &writeBatch{created: map[string]bool{}} }

func (b *writeBatch) firing(a *Activity, at, now time.Time, outcome string, runID *string, reason string) {
	f := &Firing{ActivityID: a.ID, FireAt: at.UTC(), Outcome: outcome, RunID: runID, CreatedAt: now}
	if reason != "" {
		f.Reason = &reason
	}
	b.firings = append(b.firings, f)
}

func (b *writeBatch) run(p Prepared) {
	b.created[p.RunID()] = true
	if pc, ok := p.(preparedChange); ok {
		b.changes = append(b.changes, pc.PreparedChange)
		return
	}
	b.others++
}

// flush writes the batch. A firing row another replica wrote already is a
// unique violation here, which rolls the whole transaction back.
func (b *writeBatch) flush(tx *gorm.DB) error {
	if len(b.firings) > 0 {
		if err := tx.CreateInBatches(b.firings, 64).Error; err != nil {
			return err
		}
	}
	return run.InsertAll(tx, b.changes)
}

func (b *writeBatch) made() bool { return len(b.changes)+b.others > 0 }

// pendingEvent is an event decided before the activity's claim succeeded.
type pendingEvent struct {
	typ   string
	at    time.Time
	attrs model.JSONMap
}

// commitFirings decides, inside tx, what each of a's due fire times makes
// (the overlap rule reads the previous run there), claims the fire times
// by moving next_run_at on from the value this evaluation read (another
// evaluation that got there first makes it errNotHandled: the transaction
// rolls back), records an event per fire time that made nothing, and adds
// the firing rows and changes to b, which the caller flushes in the same
// transaction: a firing row and its change exist together or not at all.
func (s *Store) commitFirings(tx *gorm.DB, a *Activity, node *model.Node, times []planned, next, now time.Time,
	res *Result, b *writeBatch) error {
	stamp := s.Now()
	lastRun, lastSHA, lastAt := a.LastRunID, a.LastCommitSHA, a.LastFiredAt
	var settings *model.Settings
	var events []pendingEvent
	for i := range times {
		p := &times[i]
		switch {
		case p.missed > 0:
			res.Missed += p.missed
			events = append(events, pendingEvent{EventMissed, now, model.JSONMap{"count": p.missed, "reason": p.reason,
				"up_to": now.UTC().Format(time.RFC3339)}})
		case !p.fire:
			res.Missed++
			b.firing(a, p.at, stamp, OutcomeMissed, nil, p.reason)
			events = append(events, pendingEvent{EventMissed, p.at, model.JSONMap{"reason": p.reason}})
		case p.same:
			// new_commits_only and no new commit: nothing to fire, nothing wrong.
		case p.skipWhy != "":
			res.Skipped++
			b.firing(a, p.at, stamp, OutcomeSkipped, nil, p.skipWhy)
			events = append(events, pendingEvent{EventSkipped, p.at, model.JSONMap{"reason": p.skipWhy}})
		default:
			if lastRun != nil {
				if settings == nil {
					set, err := s.parallel(tx, a, node)
					if err != nil {
						return err
					}
					settings = &set
				}
				active := b.created[*lastRun]
				if !active && !settings.AllowParallelRunsOfSameChange {
					var err error
					if active, err = s.runActive(tx, a, *lastRun); err != nil {
						return err
					}
				}
				if active && !settings.AllowParallelRunsOfSameChange {
					res.Skipped++
					why := "the previous run " + *lastRun + " is still active and allow_parallel does not allow runs of the same " + a.Kind + " at once"
					b.firing(a, p.at, stamp, OutcomeSkipped, nil, why)
					events = append(events, pendingEvent{EventSkipped, p.at, model.JSONMap{"reason": why}})
					continue
				}
			}
			if _, batched := p.prep.(preparedChange); !batched {
				// A workflow run learns its id as it is inserted.
				if err := p.prep.Insert(tx); err != nil {
					return err
				}
			}
			id := p.prep.RunID()
			b.firing(a, p.at, stamp, OutcomeFired, &id, "")
			b.run(p.prep)
			at := p.at
			lastRun, lastAt = &id, &at
			if sha := p.prep.CommitSHA(); sha != "" {
				lastSHA = &sha
			}
			res.Fired++
			res.Lateness = append(res.Lateness, stamp.Sub(p.at))
		}
	}
	enabled := a.Repeat && !next.IsZero()
	var nextAt *time.Time
	if enabled {
		nextAt = &next
	}
	r := tx.Model(&Activity{}).Where("id = ? AND enabled = ? AND next_run_at = ?", a.ID, true, *a.NextRunAt).
		Updates(map[string]any{"next_run_at": nextAt, "enabled": enabled, "updated_at": stamp,
			"last_run_id": lastRun, "last_commit_sha": lastSHA, "last_fired_at": lastAt})
	if r.Error != nil {
		return r.Error
	}
	if r.RowsAffected != 1 {
		return errNotHandled
	}
	for _, ev := range events {
		if err := s.event(tx, a, ev.typ, ev.at, ev.attrs); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) parallel(tx *gorm.DB, a *Activity, node *model.Node) (model.Settings, error) {
	set, err := run.ParallelSettings(tx, node)
	if a.Kind == KindWorkflow {
		set.AllowParallelRunsOfSameChange = set.AllowParallelRunsOfSameWorkflow
	}
	return set, err
}

func (s *Store) runActive(tx *gorm.DB, a *Activity, id string) (bool, error) {
	if a.Kind == KindWorkflow && s.Workflows != nil {
		return s.Workflows.RunActive(tx, id)
	}
	return run.ChangeActive(tx, id)
}

func (s *Store) event(tx *gorm.DB, a *Activity, typ string, at time.Time, attrs model.JSONMap) error {
	attrs["fire_at"] = at.UTC().Format("2006-01-02T15:04:05.000000Z")
	attrs["cron_schedule"] = a.CronSchedule
	attrs["timezone"] = a.Timezone
	attrs["misfire"] = a.Misfire
	return s.Record(tx, model.SystemActor, typ, a.EventSource(), attrs)
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
