package handler_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
)

// TestLogStreamEndsWith204OnReconnect: a reconnect after the change ended,
// by a client that has every line, gets 204 so a browser's EventSource
// stops; one still missing lines gets them.
func TestLogStreamEndsWith204OnReconnect(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "ended", 1)
	logAppend(t, s, f.Steps[0], s.Store.Now(), numbered("l", 0, 3)...)
	f.Finish(t, s.Store, "success")
	path := "/api/changes/" + f.Change.ID + "/log_lines"
	all := openStream(t, s, path, "")
	lines := all.lines(t, 3)
	all.expectEnd(t, "success")
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: path,
		Header: map[string]string{"Accept": "text/event-stream", "Last-Event-ID": lines[2].ID}}).Expect(t, http.StatusNoContent)
	behind := openStream(t, s, path, lines[0].ID)
	if msgs := eventMessages(t, behind.lines(t, 2)); strings.Join(msgs, "|") != "l001|l002" {
		t.Fatalf("a client one line behind got %q", msgs)
	}
}

// TestLogStreamTickets: a ticket opens its change's live stream without a
// token, and nothing else: not another change's, not a JSON read, not
// after a minute.
func TestLogStreamTickets(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	clock := testutil.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s.Store.Now = clock.Now
	f := testutil.InsertLogFixture(t, s.Store, "ticketed", 1)
	other := testutil.InsertLogFixture(t, s.Store, "other", 1)
	logAppend(t, s, f.Steps[0], s.Store.Now(), "secret-free line")
	f.Finish(t, s.Store, "success")

	doc := s.Post(t, "/api/changes/"+f.Change.ID+"/log_stream_tickets", nil).Expect(t, http.StatusCreated).Data(t)
	attrs := doc["attributes"].(map[string]any)
	ticket, stream := attrs["ticket"].(string), attrs["stream_url"].(string)
	if ticket == "" || strings.Contains(ticket, testutil.AdminToken) || !strings.HasSuffix(stream, "?ticket="+ticket) {
		t.Fatalf("ticket document = %v", doc)
	}
	events := map[string]string{"Accept": "text/event-stream"}
	resp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: stream, NoAuth: true, Header: events}).Expect(t, http.StatusOK)
	if !strings.Contains(string(resp.Body), "secret-free line") || !strings.Contains(string(resp.Body), "event: end") {
		t.Fatalf("stream opened with the ticket:\n%s", resp.Body)
	}
	for _, tc := range []struct {
		name, path string
		header     map[string]string
	}{
		{"another change", "/api/changes/" + other.Change.ID + "/log_lines?ticket=" + ticket, events},
		{"a JSON read", stream, nil},
		{"a forged ticket", "/api/changes/" + f.Change.ID + "/log_lines?ticket=" + ticket[:len(ticket)-4] + "AAAA", events},
		{"another endpoint", "/api/changes/" + f.Change.ID + "?ticket=" + ticket, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Do(t, testutil.Request{Method: http.MethodGet, Path: tc.path, NoAuth: true, Header: tc.header}).Expect(t, http.StatusUnauthorized)
		})
	}
	clock.Advance(61 * time.Second)
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: stream, NoAuth: true, Header: events}).Expect(t, http.StatusUnauthorized)
	s.Post(t, "/api/changes/"+f.Steps[0].ID+"/log_stream_tickets", nil).Expect(t, http.StatusNotFound)
}
