package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	changesDesc = prometheus.NewDesc("steward_changes", "Changes in the database, by status.", []string{"status"}, nil)
	runsDesc    = prometheus.NewDesc("steward_workflow_runs", "Workflow runs in the database, by status.", []string{"status"}, nil)
	queuedDesc  = prometheus.NewDesc("steward_queued_steps", "Steps waiting for a worker.", nil, nil)
	oldestDesc  = prometheus.NewDesc("steward_oldest_queued_step_age_seconds", "How long the oldest queued step has waited (0 when none).", nil, nil)
	scrapeDesc  = prometheus.NewDesc("steward_queue_scrape_errors_total", "1 when the last read of the queue failed.", nil, nil)
)

// queueCollector reads the queue from the database at each scrape: the
// figures are the database's, so every replica reports the same ones.
type queueCollector struct {
	read func(ctx context.Context) (Queue, error)
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{changesDesc, runsDesc, queuedDesc, oldestDesc, scrapeDesc} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := c.read(ctx)
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, failed)
	if err != nil {
		return
	}
	for status, n := range q.ChangesByStatus {
		ch <- prometheus.MustNewConstMetric(changesDesc, prometheus.GaugeValue, n, status)
	}
	for status, n := range q.WorkflowRunsByStatus {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, n, status)
	}
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, q.QueuedSteps)
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, q.OldestQueuedAge.Seconds())
}
