package engine

import (
	"context"

	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/metrics"
)

// QueueMetrics reads what metrics report of the work at scrape time: changes
// and workflow runs by status, and the steps waiting for a worker.
func QueueMetrics(store *run.Store) func(ctx context.Context) (metrics.Queue, error) {
	return func(ctx context.Context) (metrics.Queue, error) {
		st, err := store.ReadStats(ctx)
		q := metrics.Queue{ChangesByStatus: map[string]float64{}, WorkflowRunsByStatus: map[string]float64{},
			QueuedSteps: float64(st.QueuedSteps), OldestQueuedAge: st.OldestQueuedAge}
		for k, v := range st.ChangesByStatus {
			q.ChangesByStatus[k] = float64(v)
		}
		for k, v := range st.WorkflowRunsByStatus {
			q.WorkflowRunsByStatus[k] = float64(v)
		}
		return q, err
	}
}
