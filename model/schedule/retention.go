package schedule

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// RetentionID is the id of the internal retention activity (one per
// database, whichever replica created it first).
const RetentionID = "00000000-0000-7000-8000-00000000a11e"

// DefaultRetentionSchedule runs the retention job every hour.
const DefaultRetentionSchedule = "@hourly"

// EventPruned is the event of one retention run, with its counts.
const EventPruned = "api:retention:prune"

// RetentionOptions tunes a retention run.
type RetentionOptions struct {
	Batch int // rows deleted per transaction (default 1000), so no lock is held long
}

// PruneCounts is what one retention run deleted.
type PruneCounts struct {
	LogLines, Events, Firings int64
}

// FiringRetention is how long a firing row is kept once its fire time is
// behind its activity's next one: long enough to read what fired, and past
// it no evaluation can come back to that time (next_run_at only moves on).
const FiringRetention = 30 * 24 * time.Hour

// EnsureRetentionJob creates the internal retention activity (cron expr,
// UTC) or moves it to expr: the scheduler calls it at start.
func (s *Store) EnsureRetentionJob(ctx context.Context, expr string) error {
	if expr == "" {
		expr = DefaultRetentionSchedule
	}
	c, err := ParseCron(expr, "UTC")
	if err != nil {
		return err
	}
	now := s.Now()
	next := c.Next(now)
	return s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		a := &Activity{ID: RetentionID, Kind: KindRetention, CronSchedule: expr, Timezone: "UTC", Repeat: true,
			Enabled: true, Misfire: MisfireLatest, Metadata: model.JSONMap{}, PropertyOverrides: model.JSONMap{},
			NextRunAt: &next, CreatedBy: model.SystemActor.Name(), CreatedAt: now, UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(a).Error; err != nil {
			return err
		}
		return tx.Model(&Activity{}).Where("id = ? AND cron_schedule <> ?", RetentionID, expr).
			Updates(map[string]any{"cron_schedule": expr, "next_run_at": next, "updated_at": now}).Error
	})
}

// runRetention claims the due retention run (its firing row, unique like
// any other) and prunes; each run is one event with its counts. A run cut
// short (the process died) leaves the rest to the next one: deleting what
// is past its retention is the same work whoever does it.
func (s *Store) runRetention(ctx context.Context, a *Activity, now time.Time, opt RetentionOptions) (Result, error) {
	res := Result{Activities: 1}
	c, err := a.Cron()
	if err != nil {
		return res, s.disable(ctx, a, err)
	}
	next := c.Next(now)
	err = s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		if err := claim(tx, a, &next, true, s.Now()); err != nil {
			return err
		}
		return tx.Create(&Firing{ActivityID: a.ID, FireAt: a.NextRunAt.UTC(), Outcome: OutcomePruned, CreatedAt: s.Now()}).Error
	})
	if err != nil {
		if model.IsDuplicate(err) {
			return res, errNotHandled
		}
		return res, err
	}
	counts, err := s.Prune(ctx, now, opt)
	if err != nil {
		return res, err
	}
	res.Pruned = 1
	return res, s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		return s.Record(tx, model.SystemActor, EventPruned, a.EventSource(), model.JSONMap{
			"log_lines": counts.LogLines, "events": counts.Events, "firings": counts.Firings, "fire_at": a.NextRunAt.UTC().Format(time.RFC3339)})
	})
}

// retentionOf is, per node id, the retention in days its nearest setting
// gives (the node's own settings, then its environment's, then its
// project's); nodes under no setting, or under null, are left out.
func (s *Store) retentionOf(ctx context.Context, key string) (map[string]int, map[string]string, error) {
	var nodes []model.Node
	var sets []model.PropertySet
	err := s.Read(ctx, func(db *gorm.DB) error {
		if err := db.Select("id", "path", "settings_id").Find(&nodes).Error; err != nil {
			return err
		}
		return db.Where("kind = ?", model.KindSettings).Find(&sets).Error
	})
	if err != nil {
		return nil, nil, err
	}
	data := make(map[string]model.JSONMap, len(sets))
	for i := range sets {
		data[sets[i].ID] = sets[i].Data
	}
	byPath := make(map[string]string, len(nodes)) // path -> settings id
	for i := range nodes {
		byPath[nodes[i].Path] = nodes[i].SettingsID
	}
	days := map[string]int{}
	paths := map[string]string{}
	for i := range nodes {
		lineage := model.Lineage(nodes[i].Path)
		for j := len(lineage) - 1; j >= 0; j-- {
			if d, set := model.RetentionDays(data[byPath[lineage[j]]], key); set {
				if d > 0 {
					days[nodes[i].ID] = d
					paths[nodes[i].ID] = nodes[i].Path
				}
				break
			}
		}
	}
	return days, paths, nil
}

// byDays groups node ids by their retention, in chunks small enough for
// an IN list.
func byDays(days map[string]int) map[int][][]string {
	out := map[int][][]string{}
	for id, d := range days {
		chunks := out[d]
		if len(chunks) == 0 || len(chunks[len(chunks)-1]) >= 500 {
			chunks = append(chunks, nil)
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], id)
		out[d] = chunks
	}
	return out
}

// Prune deletes the log lines of changes that finished more than
// change_log_retention_days ago and the events older than
// event_retention_days, each by the setting nearest its node, Batch rows
// per transaction. An event belongs to the node it is about, or to the
// node of the change, step or scheduled activity it is about; events about
// nothing on a node (users, tokens, the retention runs) are kept.
func (s *Store) Prune(ctx context.Context, now time.Time, opt RetentionOptions) (PruneCounts, error) {
	if opt.Batch <= 0 {
		opt.Batch = 1000
	}
	var out PruneCounts
	logDays, _, err := s.retentionOf(ctx, model.SettingChangeLogRetention)
	if err != nil {
		return out, err
	}
	for d, chunks := range byDays(logDays) {
		cutoff := now.Add(-time.Duration(d) * 24 * time.Hour)
		for _, ids := range chunks {
			changes := func(db *gorm.DB) *gorm.DB {
				return db.Model(&run.Change{}).Select("id").Where("node_id IN ? AND finished_at IS NOT NULL AND finished_at < ?", ids, cutoff)
			}
			n, err := s.deleteInBatches(ctx, opt.Batch, func(db *gorm.DB) *gorm.DB {
				return db.Model(&run.LogLine{}).Select("id").Where("change_id IN (?)", changes(db))
			}, &run.LogLine{})
			out.LogLines += n
			if err != nil {
				return out, err
			}
		}
	}
	eventDays, paths, err := s.retentionOf(ctx, model.SettingEventRetention)
	if err != nil {
		return out, err
	}
	for d, chunks := range byDays(eventDays) {
		cutoff := now.Add(-time.Duration(d) * 24 * time.Hour)
		for _, ids := range chunks {
			nodePaths := make([]string, len(ids))
			for i, id := range ids {
				nodePaths[i] = paths[id]
			}
			n, err := s.deleteInBatches(ctx, opt.Batch, func(db *gorm.DB) *gorm.DB {
				changes := db.Model(&run.Change{}).Select("id").Where("node_id IN ?", ids)
				steps := db.Model(&run.Step{}).Select("id").Where("change_id IN (?)", changes)
				return db.Model(&model.Event{}).Select("id").Where("created_at < ?", cutoff).
					Where(db.Where("source_link IN ?", nodePaths).
						Or("source_type = ? AND source_id IN (?)", "change", db.Model(&run.Change{}).Select("id").Where("node_id IN ?", ids)).
						Or("source_type = ? AND source_id IN (?)", "step", steps).
						Or("source_type = ? AND source_id IN (?)", "scheduled_activity", db.Model(&Activity{}).Select("id").Where("node_id IN ?", ids)))
			}, &model.Event{})
			out.Events += n
			if err != nil {
				return out, err
			}
		}
	}
	n, err := s.pruneFirings(ctx, now.Add(-FiringRetention), opt.Batch)
	out.Firings = n
	return out, err
}

// pruneFirings deletes the firings older than cutoff whose fire time is
// also behind their activity's next one, batch rows per transaction.
func (s *Store) pruneFirings(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var acts []Activity
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("id", "next_run_at").Where("id IN (?)", db.Model(&Firing{}).Select("activity_id").Where("fire_at < ?", cutoff)).Find(&acts).Error
	})
	if err != nil {
		return 0, err
	}
	var total int64
	for _, a := range acts {
		until := cutoff
		if a.NextRunAt != nil && a.NextRunAt.Before(until) {
			until = *a.NextRunAt
		}
		for {
			var n int64
			err := s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
				// The batch-th oldest prunable fire time bounds this batch.
				var edge []time.Time
				q := tx.Model(&Firing{}).Where("activity_id = ? AND fire_at < ?", a.ID, until).Order("fire_at").Offset(batch - 1).Limit(1)
				if err := q.Pluck("fire_at", &edge).Error; err != nil {
					return err
				}
				del := tx.Where("activity_id = ? AND fire_at < ?", a.ID, until)
				if len(edge) == 1 {
					del = del.Where("fire_at <= ?", edge[0])
				}
				r := del.Delete(&Firing{})
				n = r.RowsAffected
				return r.Error
			})
			total += n
			if err != nil || n < int64(batch) {
				if err != nil {
					return total, err
				}
				break
			}
		}
	}
	return total, nil
}

// deleteInBatches deletes the rows whose ids ids selects, batch per
// transaction, until none is left.
func (s *Store) deleteInBatches(ctx context.Context, batch int, ids func(*gorm.DB) *gorm.DB, table any) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
			r := tx.Where("id IN (?)", ids(tx).Limit(batch)).Delete(table)
			n = r.RowsAffected
			return r.Error
		})
		total += n
		if err != nil || n < int64(batch) {
			return total, err
		}
	}
}
