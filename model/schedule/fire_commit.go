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

// commitFirings writes, inside tx, what evaluate decided: the claim on the
// fire times, a firing row per fire time (unique per activity and time:
// the guarantee of exactly once), the changes or runs, and an event per
// fire time that made nothing.
func (s *Store) commitFirings(tx *gorm.DB, a *Activity, node *model.Node, times []planned, next, now time.Time,
	res *Result, created *bool) error {
	enabled := a.Repeat && !next.IsZero()
	var nextAt *time.Time
	if enabled {
		nextAt = &next
	}
	if err := claim(tx, a, nextAt, enabled, s.Now()); err != nil {
		return err
	}
	lastRun, lastSHA, lastAt := a.LastRunID, a.LastCommitSHA, a.LastFiredAt
	var settings *model.Settings
	for i := range times {
		p := &times[i]
		switch {
		case p.missed > 0:
			res.Missed += p.missed
			if err := s.event(tx, a, EventMissed, now, model.JSONMap{"count": p.missed, "reason": p.reason,
				"up_to": now.UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
		case !p.fire:
			res.Missed++
			if err := s.firing(tx, a, p.at, OutcomeMissed, nil, p.reason, EventMissed); err != nil {
				return err
			}
		case p.same:
			// new_commits_only and no new commit: nothing to fire, nothing wrong.
		case p.skipWhy != "":
			res.Skipped++
			if err := s.firing(tx, a, p.at, OutcomeSkipped, nil, p.skipWhy, EventSkipped); err != nil {
				return err
			}
		default:
			if lastRun != nil {
				if settings == nil {
					set, err := s.parallel(tx, a, node)
					if err != nil {
						return err
					}
					settings = &set
				}
				active, err := s.runActive(tx, a, *lastRun)
				if err != nil {
					return err
				}
				if active && !settings.AllowParallelRunsOfSameChange {
					res.Skipped++
					why := "the previous run " + *lastRun + " is still active and allow_parallel does not allow runs of the same " + a.Kind + " at once"
					if err := s.firing(tx, a, p.at, OutcomeSkipped, nil, why, EventSkipped); err != nil {
						return err
					}
					continue
				}
			}
			id := p.prep.RunID()
			if err := s.firing(tx, a, p.at, OutcomeFired, &id, "", ""); err != nil {
				return err
			}
			if err := p.prep.Insert(tx); err != nil {
				return err
			}
			sha, at := p.prep.CommitSHA(), p.at
			lastRun, lastAt = &id, &at
			if sha != "" {
				lastSHA = &sha
			}
			res.Fired++
			*created = true
		}
	}
	return tx.Model(&Activity{}).Where("id = ?", a.ID).
		Updates(map[string]any{"last_run_id": lastRun, "last_commit_sha": lastSHA, "last_fired_at": lastAt}).Error
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

// firing inserts the firing row and, for one that made nothing, its event.
func (s *Store) firing(tx *gorm.DB, a *Activity, at time.Time, outcome string, runID *string, reason, eventType string) error {
	f := &Firing{ActivityID: a.ID, FireAt: at.UTC(), Outcome: outcome, RunID: runID, CreatedAt: s.Now()}
	if reason != "" {
		f.Reason = &reason
	}
	if err := tx.Create(f).Error; err != nil {
		return err
	}
	if eventType == "" {
		return nil
	}
	return s.event(tx, a, eventType, at, model.JSONMap{"reason": reason})
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
