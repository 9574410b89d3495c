package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
)

// cliActions are the actions the client tests run.
const cliActions = `actions:
  hello:
    run: echo "hello from $STEWARD_NODE_PATH"
  fail:
    run: echo about to fail; exit 3
  count:
    run: for i in $(seq 1 40); do echo "line $i"; done
  gated:
    steps:
      - wait: { name: Smoke check }
      - wait: { name: Sign off, requires_approval_from: ops }
      - hello
`

const cliEnvPath = "/projects/web/environments/prod"

// cliFixture is a server with a running engine, project web, environment
// prod and git remote ops holding cliActions.
type cliFixture struct {
	srv      *testutil.Server
	remoteID string
}

func newCLIFixture(t *testing.T) *cliFixture {
	t.Helper()
	s := enginetest.NewServer(t)
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": cliActions})
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "web", "name": "Web"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/web/environments", testutil.Attrs("environment", map[string]any{"code": "prod", "name": "Production"})).Expect(t, http.StatusCreated)
	remote := s.Post(t, "/api/projects/web/git_remotes", testutil.Attrs("git_remote", map[string]any{"name": "ops", "url": repo.URL()})).Expect(t, http.StatusCreated)
	return &cliFixture{srv: s, remoteID: remote.Data(t)["id"].(string)}
}

// cliResult is what one client command did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// run runs a client command in-process against the fixture's server, as
// the admin, or with the extra environment given (KEY=VALUE) first.
func (f *cliFixture) run(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	vars := map[string]string{"STEWARD_URL": f.srv.URL, "STEWARD_TOKEN": testutil.AdminToken}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var stdout, stderr bytes.Buffer
	code := runClient(context.Background(), args, &stdout, &stderr, func(k string) string { return vars[k] })
	r := cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("steward %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

// TestCLICreateFollow is the CI one-liner: create --follow prints the log and
// exits with the change's outcome.
func TestCLICreateFollow(t *testing.T) {
	f := newCLIFixture(t)
	for _, tc := range []struct {
		action   string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"hello", exitSuccess, "hello from " + cliEnvPath + "\n", "ended success"},
		{"fail", exitChangeError, "about to fail\n", "ended error"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			r := f.run(t, nil, "changes", "create", cliEnvPath, tc.action, "--remote", "ops", "--rev", "main", "--follow")
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tc.wantCode)
			}
			if !strings.HasPrefix(r.stdout, tc.wantOut) {
				t.Errorf("stdout %q does not start with the log line %q", r.stdout, tc.wantOut)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr %q does not say %q", r.stderr, tc.wantErr)
			}
		})
	}

	t.Run("remote by id, no follow", func(t *testing.T) {
		r := f.run(t, nil, "changes", "create", cliEnvPath, "hello", "--remote", f.remoteID, "--rev", "main")
		id := strings.TrimSpace(r.stdout)
		if r.code != exitSuccess || strings.Contains(id, "\n") || id == "" {
			t.Fatalf("exit code %d, stdout %q: want 0 and the change id alone", r.code, r.stdout)
		}
		// Following it afterwards waits for its end and exits with its status.
		if r := f.run(t, nil, "changes", "logs", id, "--follow"); r.code != exitSuccess || r.stdout != "hello from "+cliEnvPath+"\n" {
			t.Fatalf("logs --follow: exit %d, stdout %q", r.code, r.stdout)
		}
		if r := f.run(t, nil, "changes", "show", id); r.code != exitSuccess || !strings.Contains(r.stdout, "success") || !strings.Contains(r.stdout, cliEnvPath) {
			t.Fatalf("show: exit %d, stdout %q", r.code, r.stdout)
		}
	})
}

// TestCLIErrors: the API's refusals print their detail and exit
// exitAPIError; a bad command line exits exitUsage.
func TestCLIErrors(t *testing.T) {
	f := newCLIFixture(t)
	create := func(path, action, remote string) []string {
		return []string{"changes", "create", path, action, "--remote", remote, "--rev", "main", "--follow"}
	}
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown node", nil, create("/projects/web/environments/nope", "hello", "ops"), exitAPIError,
			`422 unknown_node: no project, environment or asset at "/projects/web/environments/nope" (at /data/attributes/parent_path)`},
		{"unknown action", nil, create(cliEnvPath, "deploy", "ops"), exitAPIError,
			`422 unknown_action: action "deploy" is not defined in actions.yaml`},
		{"unknown remote", nil, create(cliEnvPath, "hello", "nope"), exitAPIError, `has no git remote named "nope"`},
		{"unknown change", nil, []string{"changes", "show", "01a23410-1902-72ed-913d-793d6e5d0f10"}, exitAPIError, "404 not_found"},
		{"bad token", []string{"STEWARD_TOKEN=stw_wrong"}, []string{"projects", "list"}, exitAPIError, "401 unauthorized"},
		{"no token", []string{"STEWARD_TOKEN="}, []string{"projects", "list"}, exitUsage, "set STEWARD_TOKEN"},
		{"missing action", nil, []string{"changes", "create", cliEnvPath}, exitUsage, "usage: steward changes create"},
		{"unknown flag", nil, []string{"changes", "list", "--bogus"}, exitUsage, "flag provided but not defined"},
		{"unknown command", nil, []string{"changes", "explode"}, exitUsage, `unknown command "changes explode"`},
		{"bad output", nil, []string{"projects", "list", "-o", "yaml"}, exitUsage, "-o must be table or json"},
		{"bad metadata", nil, append(create(cliEnvPath, "hello", "ops"), "--metadata", "[1]"), exitUsage, "--metadata must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.run(t, tc.env, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tc.wantCode)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.wantErr)
			}
			if tc.wantCode == exitAPIError && r.stdout != "" {
				t.Errorf("a refused command printed data: %q", r.stdout)
			}
		})
	}
	if r := f.run(t, nil, "changes", "list"); r.code != exitSuccess || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("refused creates left changes behind: %q", r.stdout)
	}
}

// TestCLIJSONOutput: -o json prints documents (JSON Lines when following)
// that parse, with the data scripts look for.
func TestCLIJSONOutput(t *testing.T) {
	f := newCLIFixture(t)
	r := f.run(t, nil, "changes", "create", cliEnvPath, "count", "--remote", "ops", "--rev", "main", "--follow", "-o", "json",
		"--metadata", `{"build": 12345678901234567890}`)
	if r.code != exitSuccess {
		t.Fatalf("exit code %d", r.code)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 42 {
		t.Fatalf("%d JSON lines, want the created change, 40 log lines and the ended change", len(lines))
	}
	created, ended := jsonLine(t, lines[0]), jsonLine(t, lines[41])
	data := created["data"].(map[string]any)
	id := data["id"].(string)
	if data["type"] != "change" || !strings.Contains(lines[0], `"build":12345678901234567890`) {
		t.Errorf("first line is not the created change with its exact metadata: %s", lines[0])
	}
	for i, l := range lines[1:41] {
		res := jsonLine(t, l)
		attrs := res["attributes"].(map[string]any)
		if res["type"] != "log_line" || attrs["message"] != fmt.Sprintf("line %d", i+1) || attrs["change_id"] != id {
			t.Errorf("line %d is %s", i+1, l)
		}
	}
	if s := ended["data"].(map[string]any)["attributes"].(map[string]any)["status_code"]; s != "success" {
		t.Errorf("last line's status_code = %v", s)
	}

	for _, tc := range []struct {
		args     []string
		wantType string
		list     bool
	}{
		{[]string{"changes", "list", cliEnvPath}, "change", true},
		{[]string{"changes", "list", "--status", "success"}, "change", true},
		{[]string{"changes", "show", id}, "change", false},
		{[]string{"projects", "list"}, "project", true},
		{[]string{"environments", "list", "web"}, "environment", true},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			r := f.run(t, nil, append(tc.args, "-o", "json")...)
			if r.code != exitSuccess {
				t.Fatalf("exit code %d", r.code)
			}
			doc := jsonLine(t, strings.TrimSuffix(r.stdout, "\n"))
			first := doc["data"]
			if tc.list {
				items := doc["data"].([]any)
				if len(items) == 0 {
					t.Fatalf("empty list: %s", r.stdout)
				}
				first = items[0]
			}
			if typ := first.(map[string]any)["type"]; typ != tc.wantType {
				t.Errorf("type %v, want %s", typ, tc.wantType)
			}
		})
	}
}

func jsonLine(t *testing.T, line string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, line)
	}
	return v
}

// TestRunDispatchesClientCommands: `steward changes ...` goes through run,
// which hands main the command's exit code.
func TestRunDispatchesClientCommands(t *testing.T) {
	f := newCLIFixture(t)
	auth := []string{"--url", f.srv.URL, "--token", testutil.AdminToken}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{append([]string{"projects", "list"}, auth...), exitSuccess},
		{append([]string{"changes", "create", cliEnvPath, "nope", "--remote", "ops", "--rev", "main"}, auth...), exitAPIError},
		{[]string{"changes", "create"}, exitUsage},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		var code exitCode
		got := exitSuccess
		if errors.As(err, &code) {
			got = int(code)
		} else if err != nil {
			t.Fatalf("run %v: %v", tc.args, err)
		}
		if got != tc.want {
			t.Errorf("run %v: exit %d, want %d; stderr %s", tc.args, got, tc.want, stderr.String())
		}
	}
}
