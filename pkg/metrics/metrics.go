package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is every collector Steward exports, registered on Registry.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	stepsFinished   *prometheus.CounterVec
	stepDuration    prometheus.Histogram
	dispatchLatency prometheus.Histogram
	logLines        prometheus.Counter
	claims          prometheus.Counter
	leaseLapses     prometheus.Counter
	firings         *prometheus.CounterVec
	lateness        prometheus.Histogram
}

// New builds the collectors and registers them with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_http_requests_total",
		Help: "HTTP requests answered, by route template, method and status."}, []string{"route", "method", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "steward_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route template and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"})
	m.stepsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_steps_finished_total",
		Help: "Steps this process ran to an end, by final status."}, []string{"status"})
	m.stepDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "steward_step_duration_seconds",
		Help: "How long the steps this process ran took, start to end.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)})
	m.dispatchLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "steward_step_dispatch_latency_seconds",
		Help: "From a step being queued to this process starting it.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)})
	m.logLines = prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_log_lines_stored_total",
		Help: "Log lines this process stored."})
	m.claims = prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_step_claims_total",
		Help: "Queued steps this process claimed."})
	m.leaseLapses = prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_step_lease_lapses_total",
		Help: "Steps this process ended because their worker's lease lapsed."})
	m.firings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_schedule_firings_total",
		Help: "Scheduled fire times this process handled, by outcome (fired, skipped, missed)."}, []string{"outcome"})
	m.lateness = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "steward_schedule_lateness_seconds",
		Help: "From a fire time to the creation of its change or run.", Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)})
	m.Registry.MustRegister(m.firings, m.lateness)
	m.Registry.MustRegister(m.httpRequests, m.httpDuration, m.stepsFinished, m.stepDuration, m.dispatchLatency,
		m.logLines, m.claims, m.leaseLapses,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// WatchDatabase exports the pool statistics of db.
func (m *Metrics) WatchDatabase(db *sql.DB) {
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, "steward"))
}

// Queue is what the database says about the work at scrape time.
type Queue struct {
	ChangesByStatus      map[string]float64
	QueuedSteps          float64
	OldestQueuedAge      time.Duration
	WorkflowRunsByStatus map[string]float64
}

// WatchQueue exports what read reports at every scrape.
func (m *Metrics) WatchQueue(read func(ctx context.Context) (Queue, error)) {
	m.Registry.MustRegister(&queueCollector{read: read})
}

// HTTPRequest records one answered request.
func (m *Metrics) HTTPRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, statusText(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// StepClaimed records a claim and how long the step waited in the queue.
func (m *Metrics) StepClaimed(waited time.Duration) {
	if m == nil {
		return
	}
	m.claims.Inc()
	m.dispatchLatency.Observe(waited.Seconds())
}

// StepFinished records a step this process ran to its end.
func (m *Metrics) StepFinished(status string, took time.Duration) {
	if m == nil {
		return
	}
	m.stepsFinished.WithLabelValues(status).Inc()
	m.stepDuration.Observe(took.Seconds())
}

// LogLinesStored adds n stored log lines.
func (m *Metrics) LogLinesStored(n int) {
	if m == nil {
		return
	}
	m.logLines.Add(float64(n))
}

// LeasesLapsed adds n steps ended for a lost worker.
func (m *Metrics) LeasesLapsed(n int) {
	if m == nil {
		return
	}
	m.leaseLapses.Add(float64(n))
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "unknown"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// ScheduleEvaluated records one evaluation's firings and their lateness.
func (m *Metrics) ScheduleEvaluated(fired, skipped, missed int, lateness []time.Duration) {
	if m == nil {
		return
	}
	m.firings.WithLabelValues("fired").Add(float64(fired))
	m.firings.WithLabelValues("skipped").Add(float64(skipped))
	m.firings.WithLabelValues("missed").Add(float64(missed))
	for _, d := range lateness {
		m.lateness.Observe(d.Seconds())
	}
}
