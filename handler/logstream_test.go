package handler_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
)

// sseEvent is one Server-Sent Event; comment-only blocks have Event ":".
type sseEvent struct{ ID, Event, Data string }

// sseStream is a live event stream read by a goroutine.
type sseStream struct {
	events chan sseEvent
	status int
	header http.Header
	cancel context.CancelFunc
}

// openStream follows path with Accept: text/event-stream; the stream is
// closed when the test ends.
func openStream(t *testing.T, s *testutil.Server, path, lastEventID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	st := &sseStream{events: make(chan sseEvent, 1000), status: resp.StatusCode, header: resp.Header, cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		defer resp.Body.Close()
		defer close(st.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		comment := false
		for sc.Scan() {
			line := sc.Text()
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					st.events <- ev
				} else if comment {
					st.events <- sseEvent{Event: ":"}
				}
				ev, comment = sseEvent{}, false
			case field == "":
				comment = true
			case field == "id":
				ev.ID = value
			case field == "event":
				ev.Event = value
			case field == "data":
				ev.Data = value
			}
		}
	}()
	return st
}

// next returns the next event, failing after a generous wait.
func (st *sseStream) next(t *testing.T) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-st.events:
		return ev, ok
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
	}
	return sseEvent{}, false
}

// lines reads events until n log lines arrived, skipping comments.
func (st *sseStream) lines(t *testing.T, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	for len(out) < n {
		ev, ok := st.next(t)
		if !ok {
			t.Fatalf("stream ended after %d of %d lines", len(out), n)
		}
		if ev.Event == ":" {
			continue
		}
		if ev.Event != "" {
			t.Fatalf("event %q before line %d", ev.Event, len(out)+1)
		}
		out = append(out, ev)
	}
	return out
}

// expectEnd reads the end event with status, then the end of the stream.
func (st *sseStream) expectEnd(t *testing.T, status string) {
	t.Helper()
	for {
		ev, ok := st.next(t)
		if !ok {
			t.Fatal("stream closed without an end event")
		}
		if ev.Event == ":" {
			continue
		}
		if ev.Event != "end" || ev.Data != `{"status":"`+status+`"}` {
			t.Fatalf("got %+v, want end with status %s", ev, status)
		}
		break
	}
	if ev, ok := st.next(t); ok {
		t.Fatalf("event after end: %+v", ev)
	}
}

func eventMessages(t *testing.T, evs []sseEvent) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		var res struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			Attributes struct {
				Message string `json:"message"`
			} `json:"attributes"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &res); err != nil || res.Type != "log_line" || res.ID != ev.ID {
			t.Fatalf("event %+v is not its log line (%v)", ev, err)
		}
		out = append(out, res.Attributes.Message)
	}
	return out
}

func TestLogStreamFollowsUntilTheChangeEnds(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "follow", 2)
	logAppend(t, s, f.Steps[0], s.Store.Now(), "before 1", "before 2")

	st := openStream(t, s, "/api/changes/"+f.Change.ID+"/log_lines", "")
	if st.status != http.StatusOK || !strings.HasPrefix(st.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, Content-Type %q", st.status, st.header.Get("Content-Type"))
	}
	if ev, _ := st.next(t); ev.Event != ":" {
		t.Fatalf("stream does not open with a comment: %+v", ev)
	}
	if got := eventMessages(t, st.lines(t, 2)); strings.Join(got, "|") != "before 1|before 2" {
		t.Fatalf("backlog %q", got)
	}
	// Appended while following, from two steps, in three batches.
	logAppend(t, s, f.Steps[0], s.Store.Now(), numbered("a", 0, 3)...)
	logAppend(t, s, f.Steps[1], s.Store.Now(), numbered("b", 0, 600)...)
	logAppend(t, s, f.Steps[0], s.Store.Now(), "last")
	want := append(append(numbered("a", 0, 3), numbered("b", 0, 600)...), "last")
	if got := eventMessages(t, st.lines(t, len(want))); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("followed %d lines, want %d in order", len(got), len(want))
	}
	f.Finish(t, s.Store, "success")
	st.expectEnd(t, "success")
}

func TestLogStreamResumesAfterLastEventID(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "resume", 1)
	logAppend(t, s, f.Steps[0], s.Store.Now(), numbered("l", 0, 5)...)

	first := openStream(t, s, "/api/changes/"+f.Change.ID+"/log_lines?filter[step_id_eq]="+f.Steps[0].ID, "")
	got := first.lines(t, 3)
	first.cancel() // the client drops after line 3

	logAppend(t, s, f.Steps[0], s.Store.Now(), numbered("l", 5, 8)...)
	again := openStream(t, s, "/api/changes/"+f.Change.ID+"/log_lines", got[2].ID)
	rest := again.lines(t, 5)
	if msgs := eventMessages(t, append(got, rest...)); strings.Join(msgs, "|") != strings.Join(numbered("l", 0, 8), "|") {
		t.Fatalf("resumed stream gave %q", msgs)
	}
	f.Finish(t, s.Store, "error")
	again.expectEnd(t, "error")

	// A finished change's stream sends what is left and ends at once.
	done := openStream(t, s, "/api/changes/"+f.Change.ID+"/log_lines", rest[3].ID)
	if msgs := eventMessages(t, done.lines(t, 1)); msgs[0] != "l007" {
		t.Fatalf("tail of finished change: %q", msgs)
	}
	done.expectEnd(t, "error")
}

func TestLogStreamRefusals(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "refuse", 1)
	stream := map[string]string{"Accept": "text/event-stream"}
	cases := []struct {
		name, path string
		header     map[string]string
		status     int
		param      string
	}{
		{"bad Last-Event-ID", "/api/changes/" + f.Change.ID + "/log_lines",
			map[string]string{"Accept": "text/event-stream", "Last-Event-ID": "abc"}, http.StatusBadRequest, "Last-Event-ID"},
		{"limit on a stream", "/api/changes/" + f.Change.ID + "/log_lines?limit=5", stream, http.StatusBadRequest, "limit"},
		{"unknown change", "/api/changes/" + f.Steps[0].ID + "/log_lines", stream, http.StatusNotFound, ""},
		{"step logs do not stream", "/api/steps/" + f.Steps[0].ID + "/log_lines", stream, http.StatusNotAcceptable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Do(t, testutil.Request{Method: http.MethodGet, Path: tc.path, Header: tc.header}).Expect(t, tc.status).ErrorObject(t)
			if tc.param != "" {
				if src, _ := e["source"].(map[string]any); src["parameter"] != tc.param {
					t.Fatalf("source %v, want parameter %s", e["source"], tc.param)
				}
			}
		})
	}
}

// TestLogStreamSendsLongLinesInOrder: a backlog larger than one read holds
// in memory (sseBatchBytes) comes in several reads, every line once, in order.
func TestLogStreamSendsLongLinesInOrder(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "long", 1)
	var want []string
	for i, m := range numbered("x", 0, 80) {
		want = append(want, m+strings.Repeat(string(rune('a'+i%26)), 30<<10))
	}
	logAppend(t, s, f.Steps[0], s.Store.Now(), want...)
	st := openStream(t, s, "/api/changes/"+f.Change.ID+"/log_lines", "")
	if got := eventMessages(t, st.lines(t, len(want))); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("followed %d long lines, not the %d appended in order", len(got), len(want))
	}
	f.Finish(t, s.Store, "success")
	st.expectEnd(t, "success")
}
