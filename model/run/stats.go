package run

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Stats is what the database holds of the work at one moment: what
// metrics report at scrape time.
type Stats struct {
	ChangesByStatus      map[string]int64
	WorkflowRunsByStatus map[string]int64
	QueuedSteps          int64
	OldestQueuedAge      time.Duration
}

// ReadStats counts changes and runs by status and the steps waiting for a
// worker, from one snapshot.
func (s *Store) ReadStats(ctx context.Context) (Stats, error) {
	st := Stats{ChangesByStatus: map[string]int64{}, WorkflowRunsByStatus: map[string]int64{}}
	type count struct {
		Status string
		N      int64
	}
	err := s.Snapshot(ctx, func(s *Store) error {
		return s.Read(ctx, func(db *gorm.DB) error {
			var rows []count
			if err := db.Model(&Change{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
				return err
			}
			for _, r := range rows {
				st.ChangesByStatus[r.Status] = r.N
			}
			rows = nil
			if err := db.Model(&WorkflowRun{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
				return err
			}
			for _, r := range rows {
				st.WorkflowRunsByStatus[r.Status] = r.N
			}
			if err := db.Model(&Step{}).Where("status = ?", StatusQueued).Count(&st.QueuedSteps).Error; err != nil {
				return err
			}
			var oldest []Step
			if err := db.Select("queued_at").Where("status = ? AND queued_at IS NOT NULL", StatusQueued).
				Order("queued_at").Limit(1).Find(&oldest).Error; err != nil {
				return err
			}
			if len(oldest) == 1 && oldest[0].QueuedAt != nil {
				st.OldestQueuedAge = s.Now().Sub(*oldest[0].QueuedAt)
			}
			return nil
		})
	})
	return st, err
}
