package handler_test

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model/run"
)

// TestMetricsCountWhatRan runs a change and reads the counters back from
// /metrics: the requests by route template, the claim, the finished step,
// its log lines and the changes the database holds.
func TestMetricsCountWhatRan(t *testing.T) {
	t.Parallel()
	s := enginetest.NewServer(t)
	chgServer(t, s)
	id := chgCreate(t, s, chgEnv+"/changes", chgBody("build", nil))
	testutil.WaitChange(t, s.Store, id, run.StatusSuccess)
	s.Get(t, "/api/changes/"+id).Expect(t, http.StatusOK)
	s.Get(t, "/api/changes/"+id+"/nope").Expect(t, http.StatusNotFound)
	s.Do(t, testutil.Request{Method: http.MethodPost, Path: "/api/changes/" + id + "/retry", Body: "x",
		Header: map[string]string{"Content-Type": "text/plain"}}).Expect(t, http.StatusUnsupportedMediaType)

	s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/metrics", NoAuth: true}).Expect(t, http.StatusUnauthorized)
	body := string(s.Get(t, "/metrics").Expect(t, http.StatusOK).Body)
	for _, want := range []struct {
		series  string
		atLeast float64
	}{
		{`steward_http_requests_total{method="GET",route="/api/changes/{change_id}",status="200"}`, 1},
		{`steward_http_requests_total{method="GET",route="unmatched",status="404"}`, 1},
		{`steward_http_requests_total{method="POST",route="/api/changes/{change_id}/retry",status="415"}`, 1},
		{`steward_http_requests_total{method="POST",route="/api/projects/{project}/environments/{environment}/changes",status="201"}`, 1},
		{`steward_step_claims_total`, 1},
		{`steward_steps_finished_total{status="success"}`, 1},
		{`steward_log_lines_stored_total`, 1},
		{`steward_changes{status="success"}`, 1},
		{`steward_queued_steps`, 0},
		{`steward_step_dispatch_latency_seconds_count`, 1},
		{`go_goroutines`, 1},
	} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want.series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("no %s in /metrics", want.series)
			continue
		}
		if v, err := strconv.ParseFloat(m[1], 64); err != nil || v < want.atLeast {
			t.Errorf("%s = %s, want at least %v", want.series, m[1], want.atLeast)
		}
	}
}
