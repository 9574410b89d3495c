package handler_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model/run"
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

// TestLogStreamOfACancelledChangeKeepsItsLastLines: the stream of a change
// cancelled while its step runs ends only after the step's worker stored
// its last lines, which a client that stops at `end` would otherwise miss.
func TestLogStreamOfACancelledChangeKeepsItsLastLines(t *testing.T) {
	t.Parallel()
	s := enginetest.NewServer(t)
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": "actions:\n  slow:\n    run: echo started; exec sleep 300\n"})
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/opc/git_remotes", testutil.Attrs("git_remote", map[string]any{"name": "origin", "url": repo.URL()})).Expect(t, http.StatusCreated)
	c := testutil.One[testutil.Change](t, s.Post(t, "/api/projects/opc/changes",
		testutil.Attrs("change", map[string]any{"action": "slow", "git_remote_name": "origin", "git_rev": "main"})).Expect(t, http.StatusCreated))
	stream := openStream(t, s, "/api/changes/"+c.ID+"/log_lines", "")
	if msgs := eventMessages(t, stream.lines(t, 1)); msgs[0] != "started" {
		t.Fatalf("first line %q", msgs[0])
	}
	s.Delete(t, "/api/changes/"+c.ID).Expect(t, http.StatusNoContent)
	streamed := []string{"started"}
	for {
		ev, ok := stream.next(t)
		if !ok {
			t.Fatal("stream closed without an end event")
		}
		if ev.Event == "end" {
			break
		}
		if ev.Event == "" {
			streamed = append(streamed, eventMessages(t, []sseEvent{ev})[0])
		}
	}
	var stored []run.LogLine
	if err := s.Store.DB.Where("change_id = ?", c.ID).Order("id").Find(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if len(streamed) != len(stored) || !strings.Contains(streamed[len(streamed)-1], "cancelled") {
		t.Errorf("streamed %q; the change stored %d lines, the last %q", streamed, len(stored), stored[len(stored)-1].Message)
	}
}
