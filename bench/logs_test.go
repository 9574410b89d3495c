package bench

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

const (
	logLines  = 1_000_000
	pageReads = 200
)

// BenchmarkLogLines measures the logs targets of issue 4 (figures, never a
// pass/fail on time):
//   - store_1M: a real process prints 1,000,000 lines into a LogWriter (stdout
//     and stderr share it); lines/s from start to Close, and the growth of the
//     process's peak RSS. Targets: 200,000 lines/s on PostgreSQL, 100,000 on
//     SQLite, under 100 MB.
//   - first_page / page_10000: reading page 1 and page 10,000 (100 lines a
//     page) of that log through the API; keyset paging makes them cost the same.
//
// Run: go test -run '^$' -bench LogLines -benchtime 1x ./bench/ (PostgreSQL
// when STEWARD_TEST_POSTGRES_URL is set).
func BenchmarkLogLines(b *testing.B) {
	s := testutil.NewServer(b)
	dialect := string(testutil.Dialect())
	var first *testutil.LogFixture
	b.Run(dialect+"/store_1M", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f := testutil.InsertLogFixture(b, s.Store, "logs"+strconv.Itoa(i)+"x"+strconv.Itoa(b.N), 1)
			if first == nil {
				first = f
			}
			rate, growth := storeMillionLines(b, s.Store, f)
			b.ReportMetric(rate, "lines/s")
			b.ReportMetric(growth, "peak_rss_growth_MB")
			b.Logf("%s: %d lines stored at %.0f lines/s; peak RSS grew %.1f MB", dialect, logLines, rate, growth)
		}
	})
	if first == nil {
		return
	}
	path := "/api/changes/" + first.Change.ID + "/log_lines?page[size]=100"
	var deep []int64
	if err := s.Store.DB.Model(&run.LogLine{}).Where("change_id = ?", first.Change.ID).
		Order("id").Offset(logLines-101).Limit(1).Pluck("id", &deep).Error; err != nil || len(deep) != 1 {
		b.Fatalf("find page 10,000: %v", err)
	}
	pages := []struct{ name, path string }{
		{"first_page", path},
		{"page_10000", path + "&page[after]=" + jsonapi.EncodeCursor(strconv.FormatInt(deep[0], 10))},
	}
	handler := s.API.Handler()
	for _, p := range pages {
		// An op is pageReads reads, so -benchtime 1x (for store_1M) still
		// gives a steady per-page figure.
		b.Run(dialect+"/"+p.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N*pageReads; i++ {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"message":"line `) {
					b.Fatalf("status %d: %.300s", rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N*pageReads)/1000, "ms/page")
		})
	}
}

// storeMillionLines runs seq through a LogWriter and checks the count.
func storeMillionLines(b *testing.B, store *run.Store, f *testutil.LogFixture) (linesPerSecond, rssGrowthMB float64) {
	b.Helper()
	resetPeakRSS(b)
	before := procStatusKB(b, "VmRSS")
	start := time.Now()
	w := engine.NewLogWriter(store, f.Change.ID, f.Steps[0].ID)
	cmd := exec.Command("seq", "-f", "line %07g of a step that prints a lot", "1", strconv.Itoa(logLines))
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	peak := procStatusKB(b, "VmHWM")
	var n int64
	if err := store.DB.WithContext(context.Background()).Model(&run.LogLine{}).Where("change_id = ?", f.Change.ID).Count(&n).Error; err != nil || n != logLines {
		b.Fatalf("stored %d lines (%v), want %d", n, err, logLines)
	}
	return float64(logLines) / elapsed.Seconds(), float64(peak-before) / 1024
}

// resetPeakRSS makes VmHWM restart from the current RSS (Linux: writing 5 to
// clear_refs), so the peak measured is this run's.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v): the growth shown includes earlier peaks", err)
	}
}

func procStatusKB(b *testing.B, field string) int64 {
	b.Helper()
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
