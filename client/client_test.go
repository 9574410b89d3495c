package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/client"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
)

// newServer is a test server (no engine: changes stay initializing) with
// project web, environment prod and remote ops, and a client for it.
func newServer(t *testing.T) (*testutil.Server, *client.Client) {
	t.Helper()
	s := testutil.NewServer(t)
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": "actions:\n  deploy:\n    steps:\n      - build\n      - wait: { name: Check }\n  build:\n    run: echo build\n"})
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "web", "name": "Web"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/web/environments", testutil.Attrs("environment", map[string]any{"code": "prod", "name": "Production"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/web/git_remotes", testutil.Attrs("git_remote", map[string]any{"name": "ops", "url": repo.URL()})).Expect(t, http.StatusCreated)
	c, err := client.New(s.URL+"/api/", testutil.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// TestErrorCarriesErrorObjects: a refusal is an *Error with the JSON:API
// error object, source included.
func TestErrorCarriesErrorObjects(t *testing.T) {
	_, c := newServer(t)
	ctx := context.Background()
	deploy := client.CreateChange{NodePath: "/projects/web/environments/prod", Action: "deploy", GitRemoteName: "ops", GitRev: "main"}
	for _, tc := range []struct {
		name        string
		call        func() error
		status      int
		code        string
		pointer     string
		metaPresent string
	}{
		{"unknown node", func() error {
			in := deploy
			in.NodePath = "/projects/web/environments/nope"
			_, err := c.CreateChange(ctx, in)
			return err
		}, 422, "unknown_node", "/data/attributes/parent_path", ""},
		{"unknown action", func() error {
			in := deploy
			in.Action = "deplo"
			_, err := c.CreateChange(ctx, in)
			return err
		}, 422, "unknown_action", "/data/attributes/action", "closest_actions"},
		{"unknown change", func() error {
			_, err := c.GetChange(ctx, "01a23410-1902-72ed-913d-793d6e5d0f10", false)
			return err
		}, 404, "not_found", "", ""},
		{"bad filter", func() error {
			_, err := c.ListChanges(ctx, "", client.ListOptions{Filters: map[string]string{"bogus_eq": "x"}})
			return err
		}, 400, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *client.Error
			if err := tc.call(); !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *client.Error", err, err)
			}
			if e.StatusCode != tc.status || len(e.Errors) == 0 || e.Errors[0].Status != fmt.Sprint(tc.status) || e.Detail() == "" {
				t.Fatalf("error = %+v", e)
			}
			if tc.code != "" && e.Code() != tc.code {
				t.Errorf("code %q, want %q", e.Code(), tc.code)
			}
			if tc.pointer != "" && (e.Errors[0].Source == nil || e.Errors[0].Source.Pointer != tc.pointer) {
				t.Errorf("source = %+v, want pointer %s", e.Errors[0].Source, tc.pointer)
			}
			if tc.metaPresent != "" && e.Errors[0].Meta[tc.metaPresent] == nil {
				t.Errorf("meta = %v, want %s", e.Errors[0].Meta, tc.metaPresent)
			}
		})
	}
}

// TestReadsResources: google/jsonapi reads changes with their step tree
// from included, and the lists; links and meta come alongside.
func TestReadsResources(t *testing.T) {
	_, c := newServer(t)
	ctx := context.Background()
	in := client.CreateChange{NodePath: "/projects/web/environments/prod", Action: "deploy", GitRemoteName: "ops", GitRev: "main",
		Metadata: map[string]any{"build": 7}, IdempotencyKey: "ci-run-1"}
	created, err := c.CreateChange(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateChange(ctx, in)
	if err != nil || again.ID != created.ID {
		t.Fatalf("the same idempotency key made another change: %v %v", again, err)
	}
	ch, err := c.GetChange(ctx, created.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if ch.NodePath() != "/projects/web/environments/prod" || ch.Metadata["build"] != float64(7) || ch.CreatedAt.IsZero() || ch.CommitSHA == nil {
		t.Errorf("change = %+v", ch)
	}
	root := ch.RootStep
	if root == nil || root.Label() != "deploy" || len(root.Children) != 2 || root.Children[1].Label() != "Check" || len(ch.Steps) != 3 {
		t.Fatalf("step tree not read from included: root %+v, %d steps", root, len(ch.Steps))
	}
	if _, err := c.CreateChange(ctx, client.CreateChange{NodePath: in.NodePath, Action: "build", GitRemoteName: "ops", GitRev: "main"}); err != nil {
		t.Fatal(err)
	}
	l, err := c.ListChanges(ctx, in.NodePath, client.ListOptions{Sort: "-created_at", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Action != "build" || !l.Partial || len(l.Document) == 0 {
		t.Errorf("list = %+v", l)
	}
	projects, err := c.ListProjects(ctx, client.ListOptions{})
	if err != nil || len(projects.Items) != 1 || projects.Items[0].Code != "web" || projects.Items[0].Links["self"] != "/api/projects/web" {
		t.Errorf("projects = %+v, %v", projects, err)
	}
	envs, err := c.ListEnvironments(ctx, "web", client.ListOptions{})
	if err != nil || len(envs.Items) != 1 || envs.Items[0].Code != "prod" || envs.Items[0].Project == nil {
		t.Errorf("environments = %+v, %v", envs, err)
	}
}

// TestLogLines: EachLogLine walks every page; FollowLog resumes after a
// given line, ends with the change's status, and stops at fn's error.
func TestLogLines(t *testing.T) {
	s, c := newServer(t)
	ctx := context.Background()
	f := testutil.InsertLogFixture(t, s.Store, "logs", 1)
	lines := make([]run.LogLine, 2500)
	for i := range lines {
		lines[i] = run.LogLine{ChangeID: f.Change.ID, StepID: f.Steps[0].ID, Message: fmt.Sprintf("line %d", i+1)}
	}
	if err := s.Store.AppendLogLines(ctx, lines); err != nil {
		t.Fatal(err)
	}
	f.Finish(t, s.Store, run.StatusError)

	var got []string
	if err := c.EachLogLine(ctx, f.Change.ID, func(l *client.LogLine) error { got = append(got, l.Message); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2500 || got[0] != "line 1" || got[2499] != "line 2500" {
		t.Fatalf("read %d lines over pages: first %q", len(got), got[0])
	}

	first := ""
	n := 0
	status, err := c.FollowLog(ctx, f.Change.ID, client.FollowOptions{After: lineID(t, c, f.Change.ID, 2000)}, func(l *client.LogLine) error {
		if first == "" {
			first = l.Message
		}
		n++
		return nil
	})
	if err != nil || status != client.StatusError || first != "line 2001" || n != 500 {
		t.Fatalf("follow after line 2000: status %q, err %v, first %q, %d lines", status, err, first, n)
	}

	stop := errors.New("enough")
	if _, err := c.FollowLog(ctx, f.Change.ID, client.FollowOptions{}, func(*client.LogLine) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error not returned: %v", err)
	}
	var e *client.Error
	if _, err := c.FollowLog(ctx, "01a23410-1902-72ed-913d-793d6e5d0f10", client.FollowOptions{}, nil); !errors.As(err, &e) || e.StatusCode != 404 {
		t.Fatalf("follow of an unknown change: %v", err)
	}
}

// lineID is the id of the n-th line (1-based) of the change.
func lineID(t *testing.T, c *client.Client, changeID string, n int) string {
	t.Helper()
	i, id := 0, ""
	_ = c.EachLogLine(context.Background(), changeID, func(l *client.LogLine) error {
		if i++; i == n {
			id = l.ID
		}
		return nil
	})
	return id
}

func TestParseNodePath(t *testing.T) {
	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"/projects/p", "/projects/p", true},
		{"/projects/p/environments/e", "/projects/p/environments/e", true},
		{"/projects/p/assets/a", "/projects/p/assets/a", true},
		{"/projects/p/environments/e/assets/a/", "/projects/p/environments/e/assets/a", true},
		{"projects/p", "", false},
		{"/projects", "", false},
		{"/projects/p/environments", "", false},
		{"/projects/p/environments//assets/a", "", false},
		{"/projects/p/assets/a/environments/e", "", false},
		{"/projects/../environments/e", "", false},
	} {
		n, err := client.ParseNodePath(tc.path)
		if (err == nil) != tc.ok || (tc.ok && n.String() != tc.want) {
			t.Errorf("ParseNodePath(%q) = %q, %v", tc.path, n.String(), err)
		}
	}
}

func TestNewChecksURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://steward.example/api/", "https://steward.example"},
		{"https://example.com/steward/api", "https://example.com/steward"},
		{"127.0.0.1:8080", ""},
		{"ftp://x", ""},
	} {
		c, err := client.New(tc.in, "t")
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("New(%q) accepted", tc.in)
		case tc.want != "" && (err != nil || c.URL() != tc.want):
			t.Errorf("New(%q) = %v, %v; want %s", tc.in, c, err, tc.want)
		}
	}
}
