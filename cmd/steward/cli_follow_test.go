package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	runs "github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// cuttingProxy forwards requests to the server and ends the first log
// stream it carries after cutAfter events, as a dropped connection would;
// it records the Last-Event-ID of every stream request.
type cuttingProxy struct {
	upstream string
	cutAfter int

	mu      sync.Mutex
	streams int
	resumes []string // Last-Event-ID per stream request, in order
}

func (p *cuttingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	p.mu.Lock()
	p.streams++
	first := p.streams == 1
	p.resumes = append(p.resumes, r.Header.Get("Last-Event-ID"))
	p.mu.Unlock()
	// Copy line by line, flushing each, and count the events with an id.
	events, inEvent := 0, false
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			_, _ = io.WriteString(w, line)
			w.(http.Flusher).Flush()
		}
		if err != nil {
			return
		}
		switch {
		case strings.HasPrefix(line, "id:"):
			inEvent = true
		case line == "\n" && inEvent:
			inEvent = false
			if events++; first && events == p.cutAfter {
				return // the connection drops here, between two events
			}
		}
	}
}

// TestCLILogsFollowResumes cuts the first log stream after 7 lines: the
// follow reconnects with Last-Event-ID and prints every line exactly once,
// whether it follows a change it created or one that exists.
func TestCLILogsFollowResumes(t *testing.T) {
	f := newCLIFixture(t)
	create := []string{"changes", "create", cliEnvPath, "count", "--remote", "ops", "--rev", "main"}
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"create --follow", func(*testing.T) []string { return append(create, "--follow") }},
		{"logs --follow", func(t *testing.T) []string {
			id := strings.TrimSpace(f.run(t, nil, create...).stdout)
			return []string{"changes", "logs", id, "--follow"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := &cuttingProxy{upstream: f.srv.URL, cutAfter: 7}
			ps := httptest.NewServer(proxy)
			t.Cleanup(ps.Close)
			r := f.run(t, []string{"STEWARD_URL=" + ps.URL}, tc.args(t)...)
			if r.code != exitSuccess {
				t.Fatalf("exit code %d", r.code)
			}
			var want strings.Builder
			for i := 1; i <= 40; i++ {
				fmt.Fprintf(&want, "line %d\n", i)
			}
			if r.stdout != want.String() {
				t.Errorf("lines lost or repeated across the reconnect:\n%s", r.stdout)
			}
			proxy.mu.Lock()
			defer proxy.mu.Unlock()
			if len(proxy.resumes) != 2 || proxy.resumes[0] != "" || proxy.resumes[1] == "" {
				t.Fatalf("stream requests' Last-Event-ID = %q, want none then the 7th line's id", proxy.resumes)
			}
			if !strings.Contains(r.stderr, fmt.Sprintf("resuming after line %q", proxy.resumes[1])) {
				t.Errorf("stderr does not tell of the resume: %q", r.stderr)
			}
		})
	}
}

// TestCLIApproveContinue moves a change's wait steps on from the CLI: a
// continue, an approval refused to the change's creator and given by a
// member of ops, then the follow exits with success; a rejection ends
// another change rejected, and a cancel its retry cancelled.
func TestCLIApproveContinue(t *testing.T) {
	f := newCLIFixture(t)
	ctx := context.Background()
	if _, err := f.srv.Store.CreateUser(ctx, model.SystemActor, "olivia", []string{"ops", "admin"}); err != nil {
		t.Fatal(err)
	}
	const opsToken = "stw_cli-olivia-token-0123456789"
	if _, _, err := f.srv.Store.CreateToken(ctx, model.SystemActor, "olivia", "test", 0, opsToken); err != nil {
		t.Fatal(err)
	}
	asOlivia := []string{"STEWARD_TOKEN=" + opsToken}
	named := func(name string) func(*runs.Step) bool {
		return func(st *runs.Step) bool { return st.Name != nil && *st.Name == name }
	}
	create := func(t *testing.T) string {
		r := f.run(t, nil, "changes", "create", cliEnvPath, "gated", "--remote", "ops", "--rev", "main")
		if r.code != exitSuccess {
			t.Fatalf("create: exit code %d", r.code)
		}
		return strings.TrimSpace(r.stdout)
	}

	t.Run("continue and approve", func(t *testing.T) {
		id := create(t)
		testutil.WaitStep(t, f.srv.Store, id, named("Smoke check"), runs.StatusWaiting)
		if r := f.run(t, nil, "changes", "approve", id); r.code != exitFailed || !strings.Contains(r.stderr, "no step waiting to approve") {
			t.Errorf("approve with only a continue waiting: exit %d", r.code)
		}
		if r := f.run(t, nil, "changes", "continue", id, "--message", "smoke ok"); r.code != exitSuccess || !strings.Contains(r.stdout, "success") {
			t.Fatalf("continue: exit %d", r.code)
		}
		testutil.WaitStep(t, f.srv.Store, id, named("Sign off"), runs.StatusWaiting)
		if r := f.run(t, nil, "changes", "approve", id); r.code != exitAPIError || !strings.Contains(r.stderr, "403") {
			t.Errorf("the creator's own approval: exit %d, want %d and the 403", r.code, exitAPIError)
		}
		r := f.run(t, asOlivia, "changes", "approve", id, "-o", "json")
		if r.code != exitSuccess {
			t.Fatalf("approve: exit %d", r.code)
		}
		step := jsonLine(t, strings.TrimSpace(r.stdout))["data"].(map[string]any)
		if by := step["attributes"].(map[string]any)["approved_by"].([]any); len(by) != 1 {
			t.Errorf("approved_by = %v", by)
		}
		if r := f.run(t, nil, "changes", "logs", id, "--follow"); r.code != exitSuccess || r.stdout != "hello from "+cliEnvPath+"\n" {
			t.Errorf("follow after approval: exit %d, stdout %q", r.code, r.stdout)
		}
	})

	t.Run("reject", func(t *testing.T) {
		id := create(t)
		st := testutil.WaitStep(t, f.srv.Store, id, named("Smoke check"), runs.StatusWaiting)
		if r := f.run(t, nil, "changes", "continue", id, "--step", st.ID); r.code != exitSuccess {
			t.Fatalf("continue --step: exit %d", r.code)
		}
		testutil.WaitStep(t, f.srv.Store, id, named("Sign off"), runs.StatusWaiting)
		if r := f.run(t, asOlivia, "changes", "reject", id, "--message", "not today"); r.code != exitSuccess {
			t.Fatalf("reject: exit %d", r.code)
		}
		if r := f.run(t, nil, "changes", "logs", id, "--follow"); r.code != exitRejected {
			t.Errorf("follow of a rejected change: exit %d, want %d", r.code, exitRejected)
		}
		// Its retry keeps the continued step and waits for the sign-off again;
		// cancelled there, it ends cancelled.
		r := f.run(t, nil, "changes", "retry", id)
		if r.code != exitSuccess {
			t.Fatalf("retry of a rejected change: exit %d", r.code)
		}
		retry := strings.TrimSpace(r.stdout)
		testutil.WaitStep(t, f.srv.Store, retry, named("Sign off"), runs.StatusWaiting)
		if r := f.run(t, nil, "changes", "cancel", retry); r.code != exitSuccess || !strings.Contains(r.stdout, "cancelled") {
			t.Fatalf("cancel: exit %d", r.code)
		}
		if r := f.run(t, nil, "changes", "logs", retry, "--follow"); r.code != exitCancelled {
			t.Errorf("follow of a cancelled change: exit %d, want %d", r.code, exitCancelled)
		}
	})
}
