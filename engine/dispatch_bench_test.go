package engine_test

import (
	"fmt"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// BenchmarkDispatch measures the time from a change being created (what
// POST /api/changes returns after) to its first step running, one change
// at a time, and reports the median and p99 beside the cost of
// `sh -c 'echo x'` alone. Run: go test ./engine -run '^$' -bench Dispatch -benchtime 200x
func BenchmarkDispatch(b *testing.B) {
	f := newFixture(b, actions("  echo:\n    run: echo x\n"))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := f.run(nil, "echo", nil, nil)
		created := time.Now()
		st := testutil.WaitStep(b, f.store, c.ID, func(*run.Step) bool { return true }, run.StatusRunning, run.StatusSuccess)
		lat = append(lat, st.StartedAt.Sub(created))
		testutil.WaitChange(b, f.store, c.ID, run.StatusSuccess)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	median, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	start := time.Now()
	const shRuns = 20
	for i := 0; i < shRuns; i++ {
		if err := exec.Command("sh", "-c", "echo x").Run(); err != nil {
			b.Fatal(err)
		}
	}
	floor := time.Since(start) / shRuns
	b.ReportMetric(float64(median.Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(p99.Microseconds())/1000, "ms-p99")
	b.ReportMetric(float64(floor.Microseconds())/1000, "ms-sh-floor")
	b.Logf("%s: dispatch over %d changes: median %s, p99 %s; sh -c 'echo x' alone: %s", testutil.Dialect(), len(lat), median, p99, floor)
}

// BenchmarkThroughput creates b.N one-step changes on distinct nodes at
// once and reports how many complete per second.
// Run: go test ./engine -run '^$' -bench Throughput -benchtime 500x
func BenchmarkThroughput(b *testing.B) {
	f := newFixture(b, actions("  echo:\n    run: echo x\n"))
	nodes := make([]*model.Node, b.N)
	for i := range nodes {
		nodes[i] = f.node(fmt.Sprintf("e%d", i))
	}
	b.ResetTimer()
	start := time.Now()
	changes := make([]*run.Change, b.N)
	for i := range changes {
		changes[i] = f.run(nodes[i], "echo", nil, nil)
	}
	for _, c := range changes {
		testutil.WaitChange(b, f.store, c.ID, run.StatusSuccess)
	}
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/took.Seconds(), "changes/s")
	b.Logf("%s: %d one-step changes on distinct nodes completed in %s: %.0f changes/s", testutil.Dialect(), b.N, took, float64(b.N)/took.Seconds())
}
