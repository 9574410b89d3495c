package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
)

// cliInstance is one data directory and database shared by the commands of a test.
type cliInstance struct {
	dataDir string
	dbURL   string // empty: the default SQLite file in dataDir
}

// newCLIInstance uses the default SQLite database, or a fresh PostgreSQL one
// when the suite runs on PostgreSQL.
func newCLIInstance(t *testing.T) *cliInstance {
	t.Helper()
	c := &cliInstance{dataDir: t.TempDir()}
	if os.Getenv(testutil.PostgresEnv) != "" {
		c.dbURL = testutil.DatabaseURL(t)
	}
	return c
}

// args appends the instance's flags to a command line.
func (c *cliInstance) args(cmd ...string) []string {
	out := append(cmd, "--data-dir", c.dataDir, "--log-level", "warn")
	if c.dbURL != "" {
		out = append(out, "--database-url", c.dbURL)
	}
	return out
}

// run runs one command and returns its stdout and stderr.
func (c *cliInstance) run(t *testing.T, cmd ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), c.args(cmd...), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// server is a running `steward serve`.
type server struct {
	url    string
	stdout *testutil.SyncBuffer
	stop   func() error // cancels the context and waits for serve to return
}

func (c *cliInstance) serve(t *testing.T, extra ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	args := append(c.args("serve", "--listen", "127.0.0.1:0"), extra...)
	go func() { done <- serve(ctx, args[1:], stdout, stderr, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before listening: %v\nstderr: %s", err, stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start; stderr: %s", stderr.String())
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("serve did not return after its context was cancelled")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return &server{url: "http://" + addr, stdout: stdout, stop: stop}
}

// get fetches path with token (none when empty) and decodes a JSON body.
func (s *server) get(t *testing.T, path, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	return resp.StatusCode, doc
}

var tokenLine = regexp.MustCompile(`admin API token \(shown once, keep it safe\): (stw_\S+)`)

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "steward "+version+"\n" {
		t.Fatalf("version printed %q", stdout.String())
	}
}

func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	c := newCLIInstance(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"token without create", []string{"token"}, "usage"},
		{"token create without user", c.args("token", "create"), "--user is required"},
		{"token for an unknown user", c.args("token", "create", "--user", "nobody"), "does not exist"},
		{"negative expiry", c.args("token", "create", "--user", "admin", "--expires", "-1h"), "positive"},
		{"user create without name", c.args("user", "create"), "usage"},
		{"bad log format", c.args("migrate", "--log-format", "xml"), "text or json"},
		{"unknown flag", c.args("serve", "--no-such-flag"), "no-such-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Fatalf("err = %v, stderr %q; want an error mentioning %q", err, stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("a failed command printed on stdout: %q", stdout.String())
			}
		})
	}
}

func TestCLIServeFirstStartAndRestart(t *testing.T) {
	t.Parallel()
	c := newCLIInstance(t)
	s := c.serve(t)
	out := s.stdout.String()
	if !strings.Contains(out, "listening on "+s.url+"\n") {
		t.Fatalf("serve did not print its URL:\n%s", out)
	}
	wantDB := "database: SQLite "
	if c.dbURL != "" {
		wantDB = "database: PostgreSQL "
	}
	if !strings.Contains(out, wantDB) {
		t.Fatalf("serve did not name the database (%q):\n%s", wantDB, out)
	}
	m := tokenLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("first start printed no admin token:\n%s", out)
	}
	token := m[1]

	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _ := s.get(t, path, ""); status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, status)
		}
	}
	if status, doc := s.get(t, "/api/tokens", token); status != http.StatusOK || !strings.Contains(jsonString(doc), `"username":"admin"`) {
		t.Fatalf("the printed token does not authenticate as admin: %d %v", status, doc)
	}
	if status, _ := s.get(t, "/api/projects", ""); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", status)
	}

	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v after cancel, want a clean shutdown", err)
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), time.Second); err == nil {
		conn.Close()
		t.Fatalf("the listener is still open after shutdown")
	}

	// A restart keeps the data and prints no new token.
	again := c.serve(t)
	if out := again.stdout.String(); strings.Contains(out, "API token") {
		t.Fatalf("restart printed a token:\n%s", out)
	}
	if status, _ := again.get(t, "/api/info", token); status != http.StatusOK {
		t.Fatalf("the first token no longer works after a restart: %d", status)
	}
}

// TestCLIServeFinishesInFlightRequests: a request whose handler is running
// when the context is cancelled is still answered, then serve returns cleanly.
func TestCLIServeFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	const token = "stw_in-flight-test-token-123"
	s := newCLIInstance(t).serve(t, "--admin-token", token)
	addr := strings.TrimPrefix(s.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"data":{"type":"event","attributes":{"type":"in flight"}}}`
	// With Expect: 100-continue the server answers "100 Continue" only once the
	// handler reads the body: then the request is certainly in flight.
	head := "POST /api/events HTTP/1.1\r\nHost: steward\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/vnd.api+json\r\nExpect: 100-continue\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if cont, err := http.ReadResponse(r, nil); err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v %v", cont, err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()

	// Shutdown closes the listener first; wait for that so the body arrives
	// while the server is shutting down.
	deadline := time.Now().Add(20 * time.Second)
	for {
		probe, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		probe.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener stayed open after cancel")
		}
	}
	if _, err := conn.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !resp.Close {
		t.Fatalf("in-flight request: status %d, close %v; want 201 and Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCLIAdminToken is not parallel: one case sets STEWARD_ADMIN_TOKEN.
func TestCLIAdminToken(t *testing.T) {
	const secret = "stw_bootstrap-from-configuration-42"
	cases := []struct {
		name  string
		setup func(t *testing.T) []string
	}{
		{"flag", func(t *testing.T) []string { return []string{"--admin-token", secret} }},
		{"environment", func(t *testing.T) []string { t.Setenv("STEWARD_ADMIN_TOKEN", secret); return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLIInstance(t)
			extra := tc.setup(t)
			for start := 1; start <= 2; start++ {
				s := c.serve(t, extra...)
				if out := s.stdout.String(); strings.Contains(out, secret) || strings.Contains(out, "API token") {
					t.Fatalf("start %d printed a token although one was configured:\n%s", start, out)
				}
				status, doc := s.get(t, "/api/tokens", secret)
				if status != http.StatusOK {
					t.Fatalf("start %d: the configured token does not authenticate: %d %v", start, status, doc)
				}
				// Registering the token is idempotent: restarts add no copies.
				if n := len(doc["data"].([]any)); n != 1 {
					t.Fatalf("start %d: %d tokens, want 1", start, n)
				}
				if err := s.stop(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestCLIUserAndTokenCreate(t *testing.T) {
	t.Parallel()
	c := newCLIInstance(t)
	if _, stderr, err := c.run(t, "migrate"); err != nil || !strings.Contains(stderr, "up to date") {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	out, _, err := c.run(t, "user", "create", "bob", "--group", "ops", "--group", "release")
	if err != nil || !strings.Contains(out, "created user bob") {
		t.Fatalf("user create: %v %q", err, out)
	}
	if _, _, err := c.run(t, "user", "create", "--group", "ops", "carol"); err != nil {
		t.Fatalf("user create with an existing group, flags first: %v", err)
	}
	if _, _, err := c.run(t, "user", "create", "bob"); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("a second bob: %v", err)
	}

	tokens := map[string]string{}
	for _, user := range []string{"admin", "bob"} {
		stdout, stderr, err := c.run(t, "token", "create", "--user", user, "--expires", "720h", "--name", "cli")
		if err != nil {
			t.Fatalf("token create --user %s: %v\n%s", user, err, stderr)
		}
		// stdout is the token and nothing else, so `$(steward token create ...)` works.
		if !regexp.MustCompile(`^stw_[A-Za-z0-9_-]{20,}\n$`).MatchString(stdout) {
			t.Fatalf("token create printed %q on stdout", stdout)
		}
		if !strings.Contains(stderr, "created token") || strings.Contains(stderr, strings.TrimSpace(stdout)) {
			t.Fatalf("stderr %q: want the message, never the secret", stderr)
		}
		tokens[user] = strings.TrimSpace(stdout)
	}

	s := c.serve(t)
	if strings.Contains(s.stdout.String(), "API token") {
		t.Fatalf("tokens exist, yet serve generated one:\n%s", s.stdout.String())
	}
	status, doc := s.get(t, "/api/users?filter[username_eq]=bob", tokens["admin"])
	if status != http.StatusOK || !strings.Contains(jsonString(doc), `"groupnames":["ops","release"]`) {
		t.Fatalf("bob and his groups: %d %v", status, doc)
	}
	status, doc = s.get(t, "/api/groups?sort=cn", tokens["bob"])
	if status != http.StatusOK || !strings.Contains(jsonString(doc), `"cn":"ops"`) || !strings.Contains(jsonString(doc), `"cn":"release"`) {
		t.Fatalf("groups created for bob: %d %v", status, doc)
	}
	status, doc = s.get(t, "/api/tokens", tokens["bob"])
	if status != http.StatusOK || len(doc["data"].([]any)) != 1 || !strings.Contains(jsonString(doc), `"username":"bob"`) {
		t.Fatalf("bob's token list: %d %v", status, doc)
	}
}
