package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// logAppend stores msgs as lines of step (in one batch), logged at base+i ms.
func logAppend(t *testing.T, s *testutil.Server, step *run.Step, base time.Time, msgs ...string) {
	t.Helper()
	lines := make([]run.LogLine, len(msgs))
	for i, m := range msgs {
		lines[i] = run.LogLine{ChangeID: step.ChangeID, StepID: step.ID, Message: m,
			LoggedAt: base.Add(time.Duration(i) * time.Millisecond)}
	}
	if err := s.Store.AppendLogLines(context.Background(), lines); err != nil {
		t.Fatalf("append log lines: %v", err)
	}
}

// logMessages lists the message attribute of each line of a list response.
func logMessages(t *testing.T, resp *testutil.Response) []string {
	t.Helper()
	var out []string
	for _, l := range testutil.Many[testutil.LogLine](t, resp) {
		out = append(out, l.Message)
	}
	return out
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func TestLogLineLists(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "logs", 2)
	other := testutil.InsertLogFixture(t, s.Store, "other", 1)
	base := time.Date(2025, 4, 25, 6, 0, 0, 0, time.UTC)
	logAppend(t, s, f.Steps[0], base, "cloning", "Building web", "built")
	logAppend(t, s, f.Steps[1], base.Add(time.Second), "deploying web", "done")
	logAppend(t, s, other.Steps[0], base, "elsewhere web")
	change, step0, step1 := f.Change.ID, f.Steps[0].ID, f.Steps[1].ID
	all := []string{"cloning", "Building web", "built", "deploying web", "done"}

	cases := []struct {
		name, path string
		want       []string
		partial    bool
	}{
		{"change", "/api/changes/" + change + "/log_lines", all, false},
		{"step", "/api/steps/" + step1 + "/log_lines", all[3:], false},
		{"message_cont ignores case", "/api/changes/" + change + "/log_lines?filter[message_cont]=WEB", []string{"Building web", "deploying web"}, false},
		{"step_id_eq", "/api/changes/" + change + "/log_lines?filter[step_id_eq]=" + step0, all[:3], false},
		{"logged_at_gt", "/api/changes/" + change + "/log_lines?filter[logged_at_gt]=" + url.QueryEscape(base.Add(time.Millisecond).Format(time.RFC3339Nano)), all[2:], false},
		{"limit", "/api/changes/" + change + "/log_lines?limit=2", all[:2], true},
		{"newest first", "/api/changes/" + change + "/log_lines?sort=-id&limit=2", []string{"done", "deploying web"}, true},
		{"across changes", "/api/log_lines?filter[message_cont]=web", []string{"Building web", "deploying web", "elsewhere web"}, false},
		{"one change of all", "/api/log_lines?filter[change_id_eq]=" + other.Change.ID, []string{"elsewhere web"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.Get(t, tc.path).Expect(t, http.StatusOK)
			if got := logMessages(t, resp); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("messages %q, want %q", got, tc.want)
			}
			if p := identPartial(t, resp); p != tc.partial {
				t.Fatalf("partial_response = %v, want %v", p, tc.partial)
			}
		})
	}

	line := testutil.Many[testutil.LogLine](t, s.Get(t, "/api/steps/"+step0+"/log_lines?limit=1").Expect(t, http.StatusOK))[0]
	if line.ChangeID != change || line.StepID != step0 || line.LoggedAt != "2025-04-25T06:00:00.000000Z" {
		t.Fatalf("line: %+v", line)
	}
	if _, err := strconv.ParseInt(line.ID, 10, 64); err != nil {
		t.Fatalf("id %v is not a line number", line.ID)
	}

	errs := []struct {
		name, path string
		status     int
		param      string
	}{
		{"unknown change", "/api/changes/" + model.NewID() + "/log_lines", http.StatusNotFound, ""},
		{"change id not a UUID", "/api/changes/nope/log_lines", http.StatusNotFound, ""},
		{"unknown step", "/api/steps/" + model.NewID() + "/log_lines", http.StatusNotFound, ""},
		{"unknown filter", "/api/log_lines?filter[level_eq]=x", http.StatusBadRequest, "filter[level_eq]"},
		{"bad time", "/api/log_lines?filter[logged_at_gt]=yesterday", http.StatusBadRequest, "filter[logged_at_gt]"},
		{"limit too big", "/api/log_lines?limit=1001", http.StatusBadRequest, "limit"},
		{"uuid cursor", "/api/log_lines?page[size]=2&page[after]=" + jsonapi.EncodeCursor(model.NewID()), http.StatusBadRequest, "page[after]"},
		{"csv download", "/api/log_lines?download=x.csv", http.StatusBadRequest, "download"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Get(t, tc.path).Expect(t, tc.status).ErrorObject(t)
			if tc.param != "" && fmt.Sprint(e["source"]) != fmt.Sprint(map[string]any{"parameter": tc.param}) {
				t.Fatalf("source = %v, want parameter %s", e["source"], tc.param)
			}
		})
	}
}

func TestLogLinePagingHasNoGaps(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "paging", 1)
	want := numbered("line ", 0, 50)
	logAppend(t, s, f.Steps[0], s.Store.Now(), want...)

	for _, tc := range []struct{ name, first string }{
		{"change", "/api/changes/" + f.Change.ID + "/log_lines?page[size]=7"},
		{"filtered", "/api/log_lines?filter[change_id_eq]=" + f.Change.ID + "&page[size]=7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			pages := 0
			for next := tc.first; next != ""; pages++ {
				resp := s.Get(t, next).Expect(t, http.StatusOK)
				got = append(got, logMessages(t, resp)...)
				next = ""
				if links, ok := resp.JSON(t)["links"].(map[string]any); ok {
					next, _ = links["next"].(string)
				}
				if pages > 10 {
					t.Fatal("paging does not end")
				}
			}
			if strings.Join(got, "|") != strings.Join(want, "|") || pages != 8 {
				t.Fatalf("%d pages gave %q", pages, got)
			}
		})
	}
}

func TestLogLineDownload(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "download", 2)
	logAppend(t, s, f.Steps[0], s.Store.Now(), "first", "", "third with ünïcode")
	logAppend(t, s, f.Steps[1], s.Store.Now(), "fourth")
	cases := []struct{ name, path, file, body string }{
		{"change, oldest first whatever the sort", "/api/changes/" + f.Change.ID + "/log_lines?download=change.log&sort=-id",
			"change.log", "first\n\nthird with ünïcode\nfourth\n"},
		{"step", "/api/steps/" + f.Steps[1].ID + "/log_lines?download=step.txt", "step.txt", "fourth\n"},
		{"filtered", "/api/log_lines?download=all.log&filter[message_cont]=i", "all.log", "first\nthird with ünïcode\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.Get(t, tc.path).Expect(t, http.StatusOK)
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+tc.file+`"` {
				t.Fatalf("Content-Disposition %q", cd)
			}
			if string(resp.Body) != tc.body {
				t.Fatalf("body %q, want %q", resp.Body, tc.body)
			}
		})
	}
}

// TestLogLinesTakeUpperCaseIDs: ids are accepted in either case, log lines
// too: an upper-case change or step id finds the same lines.
func TestLogLinesTakeUpperCaseIDs(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "upper", 1)
	logAppend(t, s, f.Steps[0], s.Store.Now(), "one", "two")
	for _, path := range []string{
		"/api/changes/" + strings.ToUpper(f.Change.ID) + "/log_lines",
		"/api/steps/" + strings.ToUpper(f.Steps[0].ID) + "/log_lines",
	} {
		if got := s.Get(t, path).Expect(t, http.StatusOK).List(t); len(got) != 2 {
			t.Errorf("%s: %d lines, want 2", path, len(got))
		}
	}
}
