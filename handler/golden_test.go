package handler_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
)

// goldenUpdate rewrites the golden documents: `go test ./handler/ -run Golden -update`
// after an intended change to a response.
var goldenUpdate = flag.Bool("update", false, "rewrite testdata/golden/*.json from the responses")

const (
	goldenDir     = "../testdata/golden"
	goldenRepoDir = "../testdata/repos/ops"
	goldenProject = "/api/projects/opc"
	goldenEnv     = goldenProject + "/environments/dev"
	goldenAsset   = goldenEnv + "/assets/web"
)

// goldenRequest is one document the golden test fetches (or provokes) and
// compares with testdata/golden/<name>.json.
type goldenRequest struct {
	name   string
	method string // GET when empty
	path   string
	body   any
	status int
}

// TestGoldenDocuments builds one resource of each type through the API (a
// change really runs, on the engine), renders each and compares the
// documents, normalised, with the golden files: a renamed or dropped
// attribute, relationship, link or meta fails here with a diff.
func TestGoldenDocuments(t *testing.T) {
	t.Parallel()
	s := enginetest.NewServer(t)
	repo := testgit.FromDir(t, goldenRepoDir)
	sha := repo.Git("rev-parse", "HEAD")

	created := func(path, typ string, attrs map[string]any) map[string]any {
		t.Helper()
		return s.Post(t, path, testutil.Attrs(typ, attrs)).Expect(t, http.StatusCreated).Data(t)
	}
	relID := func(d map[string]any, rel string) string {
		t.Helper()
		return d["relationships"].(map[string]any)[rel].(map[string]any)["data"].(map[string]any)["id"].(string)
	}

	project := created("/api/projects", "project", map[string]any{"code": "opc", "name": "OpsChain", "description": "Golden project"})
	created(goldenProject+"/environments", "environment", map[string]any{"code": "dev", "name": "Development"})
	remote := created(goldenProject+"/git_remotes", "git_remote", map[string]any{"name": "origin", "url": repo.URL(), "user": "bot", "password": "remote-secret"})
	created(goldenProject+"/templates", "template", map[string]any{"code": "web", "name": "Web template", "url": repo.URL()})
	s.Do(t, testutil.Request{Method: http.MethodPut, Path: goldenProject + "/templates/web/versions/v1",
		Body: testutil.Attrs("template_version", map[string]any{"git_rev": "main", "description": "First version"})}).Expect(t, http.StatusOK)
	if err := s.Store.ResolvePendingTemplateVersions(t.Context()); err != nil { // as serve does in the background
		t.Fatal(err)
	}
	asset := created(goldenEnv+"/assets", "asset", map[string]any{"code": "web", "name": "Web", "template_name": "Web template", "template_version": "v1"})
	assetProps := relID(asset, "properties")
	s.Patch(t, "/api/properties/"+assetProps, testutil.Attrs("properties", map[string]any{
		"data": map[string]any{"name": "web", "opschain": map[string]any{"env": map[string]any{"REGION": "eu-1"}}}})).Expect(t, http.StatusOK)
	scheduled := created(goldenEnv+"/scheduled_activities", "scheduled_change", map[string]any{"action": "deploy",
		"git_remote_name": "origin", "git_rev": "main", "cron_schedule": "30 2 * * *", "timezone": "Europe/London",
		"repeat": true, "metadata": map[string]any{"ticket": "OPS-2"}})
	bookmark := created(goldenProject+"/bookmarks", "bookmark", map[string]any{"url": "https://grafana.example/d/opc", "description": "Dashboard"})

	change := created(goldenAsset+"/changes", "change", map[string]any{"action": "deploy", "name": "Golden release",
		"metadata": map[string]any{"ticket": "OPS-1"}, "property_overrides": map[string]any{"replicas": 3}})
	changeID := change["id"].(string)
	smoke := testutil.WaitStep(t, s.Store, changeID, func(st *run.Step) bool { return st.Name != nil && *st.Name == "Smoke check" }, run.StatusWaiting)
	s.Post(t, "/api/steps/"+smoke.ID+"/continue", testutil.Attrs("", map[string]any{"message": "smoke is fine"})).Expect(t, http.StatusOK)
	if c := testutil.WaitChange(t, s.Store, changeID, run.StatusSuccess, run.StatusError, run.StatusCancelled); c.Status != run.StatusSuccess {
		t.Fatalf("change ended %s", c.Status)
	}

	mintmodels := s.Get(t, goldenAsset+"/mintmodels").Expect(t, http.StatusOK).List(t)
	history := s.Get(t, goldenAsset+"/mintmodel_history").Expect(t, http.StatusOK).List(t)
	events := s.Get(t, "/api/events?filter[type_eq]=api:steps:continue").Expect(t, http.StatusOK).List(t)
	if len(mintmodels) != 1 || len(history) != 1 || len(events) != 1 {
		t.Fatalf("%d MintModels, %d history entries, %d continue events; want one of each", len(mintmodels), len(history), len(events))
	}
	id := func(d any) string { return d.(map[string]any)["id"].(string) }
	created(goldenProject+"/workflows", "workflow", map[string]any{"code": "release", "name": "Release", "description": "Build and ship",
		"draft": false, "steps": []any{
			map[string]any{"target": "/projects/opc/environments/dev/assets/web", "action": "build"},
			map[string]any{"type": "wait", "requires_approval_from": "ops"},
			map[string]any{"name": "Ship", "run_as": "parallel", "children": []any{
				map[string]any{"type": "change", "target": "/projects/opc/environments/dev/assets/web", "action": "release", "template_version": "v1"},
				map[string]any{"type": "wait", "name": "Smoke check"}}},
		}})

	requests := []goldenRequest{
		{name: "project", path: goldenProject},
		{name: "environment", path: goldenEnv},
		{name: "asset", path: goldenAsset},
		{name: "git_remote", path: goldenProject + "/git_remotes/" + remote["id"].(string)},
		{name: "template", path: goldenProject + "/templates/web"},
		{name: "template_version", path: goldenProject + "/templates/web/versions/v1"},
		{name: "change", path: "/api/changes/" + changeID + "?include=steps"},
		{name: "step", path: "/api/steps/" + smoke.ID},
		{name: "properties", path: "/api/properties/" + assetProps},
		{name: "settings", path: "/api/settings/" + relID(project, "settings")},
		{name: "event", path: "/api/events/" + id(events[0])},
		{name: "bookmark", path: goldenProject + "/bookmarks/" + bookmark["id"].(string)},
		{name: "mintmodel", path: goldenAsset + "/mintmodels/" + id(mintmodels[0])},
		{name: "mintmodel_history", path: goldenAsset + "/mintmodel_history/" + id(history[0])},
		{name: "log_lines", path: "/api/changes/" + changeID + "/log_lines"},
		{name: "scheduled_change", path: "/api/scheduled_activities/" + scheduled["id"].(string) + "?include=parents"},
		{name: "changes_list_include", path: goldenAsset + "/changes?include=parents"},
		{name: "workflow", path: goldenProject + "/workflows/release"},
		{name: "workflow_version", path: goldenProject + "/workflows/release/versions/1"},
		{name: "error_422", method: http.MethodPost, path: "/api/projects", status: http.StatusUnprocessableEntity,
			body: testutil.Attrs("project", map[string]any{"code": "not a code!", "name": "Bad"})},
	}
	// What legitimately differs between runs and machines, beyond ids,
	// times and SHAs: the fixture repository's temporary folder.
	literals := strings.NewReplacer(repo.URL(), "<repo_url>", repo.Dir, "<repo_dir>")
	for _, req := range requests {
		t.Run(req.name, func(t *testing.T) {
			method, status := req.method, req.status
			if method == "" {
				method = http.MethodGet
			}
			if status == 0 {
				status = http.StatusOK
			}
			r := s.Do(t, testutil.Request{Method: method, Path: req.path, Body: req.body}).Expect(t, status)
			got := goldenNormalise(t, literals.Replace(string(r.Body)))
			if strings.Contains(got, sha[:7]) {
				t.Fatalf("the commit SHA %s survived normalisation:\n%s", sha, got)
			}
			goldenCompare(t, req.name, got)
		})
	}
}

var (
	goldenUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	goldenSHA  = regexp.MustCompile(`\b[0-9a-f]{40}\b`)
	// The design's timestamp: UTC with microseconds. Any other RFC 3339
	// form is replaced by a different marker, so a format change shows.
	goldenTime      = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z`)
	goldenOtherTime = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})`)
	goldenToken     = regexp.MustCompile(`\bstw_[A-Za-z0-9_-]+`)
)

// goldenNormalise pretty-prints body with sorted keys (numbers kept exactly
// as sent) and replaces what varies between runs: UUIDs by <id:N> and commit
// SHAs by <sha:N>, numbered in order of first appearance (so a document still
// shows which references point at the same resource), timestamps by <time>
// and API tokens by <token>.
func goldenNormalise(t *testing.T, body string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, body)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil { // map keys come out sorted
		t.Fatal(err)
	}
	out := goldenNumbered(goldenUUID, "id", buf.String())
	out = goldenNumbered(goldenSHA, "sha", out)
	out = goldenTime.ReplaceAllString(out, "<time>")
	out = goldenOtherTime.ReplaceAllString(out, "<time:not-utc-microseconds>")
	return goldenToken.ReplaceAllString(out, "<token>")
}

// goldenNumbered replaces each distinct match of re by <label:N>, N counting
// distinct values in order of first appearance.
func goldenNumbered(re *regexp.Regexp, label, s string) string {
	seen := map[string]int{}
	return re.ReplaceAllStringFunc(s, func(m string) string {
		n, ok := seen[m]
		if !ok {
			n = len(seen) + 1
			seen[m] = n
		}
		return fmt.Sprintf("<%s:%d>", label, n)
	})
}

// goldenCompare compares got with testdata/golden/<name>.json, or rewrites
// that file with -update.
func goldenCompare(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join(goldenDir, name+".json")
	if *goldenUpdate {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run `go test ./handler/ -run Golden -update` to create it)", err)
	}
	if string(want) != got {
		t.Errorf("response differs from %s (- golden, + got); if the change is intended, run `go test ./handler/ -run Golden -update` and review the diff:\n%s",
			file, goldenDiff(string(want), got))
	}
}

// goldenDiff is a minimal line diff of a and b (longest common subsequence),
// printing changed lines with two lines of context around each change.
func goldenDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			lines = append(lines, line{' ', x[i]})
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', x[i]})
			i++
		default:
			lines = append(lines, line{'+', y[j]})
			j++
		}
	}
	const context = 2
	var out strings.Builder
	last := -1
	for k, l := range lines {
		near := false
		for d := -context; d <= context; d++ {
			if n := k + d; n >= 0 && n < len(lines) && lines[n].op != ' ' {
				near = true
				break
			}
		}
		if !near {
			continue
		}
		if last >= 0 && k > last+1 {
			out.WriteString("  ...\n")
		}
		fmt.Fprintf(&out, "%c %s\n", l.op, l.text)
		last = k
	}
	return out.String()
}
