package handler_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

const remoteColl = "/api/projects/opc/git_remotes"

// remoteSecrets are the clear-text credentials a test sent; no response may
// contain any of them.
type remoteSecrets []string

// check fails when r's raw body holds a secret, and returns r for chaining.
func (sec remoteSecrets) check(t *testing.T, r *testutil.Response) *testutil.Response {
	t.Helper()
	for _, s := range sec {
		if s != "" && strings.Contains(string(r.Body), s) {
			t.Fatalf("response leaks a credential (%d chars): %s", len(s), r.Body)
		}
	}
	return r
}

func remoteServer(t *testing.T) *testutil.Server {
	t.Helper()
	s := testutil.NewServer(t)
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).Expect(t, http.StatusCreated)
	return s
}

func remoteAttrs(t *testing.T, r *testutil.Response) *testutil.GitRemote {
	t.Helper()
	return testutil.One[testutil.GitRemote](t, r)
}

// remoteCreds asserts how user, password and ssh_key_data render: true for
// "{{hidden}}", false for null. (testutil.One has checked all three are
// present: it refuses a document that lacks an attribute a struct declares.)
func remoteCreds(t *testing.T, g *testutil.GitRemote, user, password, key bool) {
	t.Helper()
	for name, c := range map[string]struct {
		v   *string
		set bool
	}{"user": {g.User, user}, "password": {g.Password, password}, "ssh_key_data": {g.SSHKeyData, key}} {
		if (c.set && testutil.Str(c.v) != "{{hidden}}") || (!c.set && c.v != nil) {
			t.Errorf("%s = %q (nil: %v), want hidden=%v", name, testutil.Str(c.v), c.v == nil, c.set)
		}
	}
}

func TestRemoteLifecycle(t *testing.T) {
	t.Parallel()
	s := remoteServer(t)
	key := string(testgit.SSHKey(t))
	sec := remoteSecrets{"robot-user-5d1e", "t0ken-8842-secret", key, strings.Split(key, "\n")[1]}

	created := sec.check(t, s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{
		"name": "github", "url": "https://github.com/example/ops.git", "user": sec[0], "password": sec[1], "ssh_key_data": key,
	}))).Expect(t, http.StatusCreated)
	d := created.Data(t)
	a := remoteAttrs(t, created)
	id := a.ID
	self := remoteColl + "/" + id
	if created.Header.Get("Location") != self || d["meta"] != nil {
		t.Fatalf("created: Location %q, data %v", created.Header.Get("Location"), d)
	}
	if _, ok := d["meta"]; !ok {
		t.Fatal("meta must be present (null)")
	}
	links := d["links"].(map[string]any)
	if links["self"] != self || links["project"] != "/api/projects/opc" {
		t.Fatalf("links = %v", links)
	}
	if a.Name != "github" || a.URL != "https://github.com/example/ops.git" || a.Archived || a.Disabled {
		t.Fatalf("attributes = %+v", a)
	}
	remoteCreds(t, a, true, true, true)
	sec.check(t, s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{
		"name": "plain", "url": "git@github.com:example/plain.git", "user": nil, "password": nil, "ssh_key_data": nil,
	}))).Expect(t, http.StatusCreated)

	remoteCreds(t, remoteAttrs(t, sec.check(t, s.Get(t, self)).Expect(t, http.StatusOK)), true, true, true)
	list := testutil.Many[testutil.GitRemote](t, sec.check(t, s.Get(t, remoteColl)).Expect(t, http.StatusOK))
	if len(list) != 2 {
		t.Fatalf("list has %d remotes, want 2", len(list))
	}
	for q, want := range map[string]int{"filter[name_eq]=plain": 1, "filter[url_cont]=example": 2, "filter[archived_true]=1": 0, "limit=1": 1} {
		if got := len(testutil.Many[testutil.GitRemote](t, sec.check(t, s.Get(t, remoteColl+"?"+q)).Expect(t, http.StatusOK))); got != want {
			t.Errorf("%s: %d remotes, want %d", q, got, want)
		}
	}
	if s.Get(t, remoteColl+"?limit=1").JSON(t)["meta"].(map[string]any)["partial_response"] != true {
		t.Error("limit=1 of 2: partial_response is not true")
	}
	page := sec.check(t, s.Get(t, remoteColl+"?page[size]=1")).Expect(t, http.StatusOK)
	next := page.JSON(t)["links"].(map[string]any)["next"].(string)
	if second := testutil.Many[testutil.GitRemote](t, sec.check(t, s.Get(t, next))); len(second) != 1 || second[0].ID == id {
		t.Fatalf("second page = %+v", second)
	}
	s.Get(t, remoteColl+"?filter[password_eq]=x").Expect(t, http.StatusBadRequest)

	csvResp := sec.check(t, s.Get(t, remoteColl+"?download=remotes.csv")).Expect(t, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(string(csvResp.Body))).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][0] != id || rows[1][7] != "{{hidden}}" || rows[2][7] != "" {
		t.Fatalf("csv = %v, %v", rows, err)
	}

	// Archive and unarchive: the remote stays readable meanwhile.
	arch := sec.check(t, s.Patch(t, self, testutil.Attrs("git_remote", map[string]any{"archived": true}))).Expect(t, http.StatusOK)
	if !remoteAttrs(t, arch).Archived {
		t.Fatalf("archive: %s", arch.Body)
	}
	remoteCreds(t, remoteAttrs(t, arch), true, true, true)
	if !remoteAttrs(t, s.Get(t, self).Expect(t, http.StatusOK)).Archived {
		t.Fatal("archived remote not readable as archived")
	}
	if got := len(testutil.Many[testutil.GitRemote](t, s.Get(t, remoteColl+"?filter[archived_true]=1"))); got != 1 {
		t.Fatalf("archived filter: %d", got)
	}
	sec.check(t, s.Patch(t, self, testutil.Attrs("git_remote", map[string]any{"archived": false}))).Expect(t, http.StatusOK)

	// Credentials: absent keeps, null and "" clear, a value replaces.
	upd := sec.check(t, s.Patch(t, self, testutil.Attrs("git_remote", map[string]any{"password": nil}))).Expect(t, http.StatusOK)
	remoteCreds(t, remoteAttrs(t, upd), true, false, true)
	upd = sec.check(t, s.Patch(t, self, testutil.Attrs("git_remote", map[string]any{"ssh_key_data": "", "password": "n3w-t0ken-77"}))).Expect(t, http.StatusOK)
	remoteCreds(t, remoteAttrs(t, upd), true, true, false)
	sec = append(sec, "n3w-t0ken-77")

	// The reference's full credentials body, with an id.
	upd = sec.check(t, s.Patch(t, self, map[string]any{"data": map[string]any{"type": "git_remote", "id": id,
		"attributes": map[string]any{"user": nil, "password": nil, "ssh_key_data": nil}}})).Expect(t, http.StatusOK)
	remoteCreds(t, remoteAttrs(t, upd), false, false, false)

	s.Delete(t, self).Expect(t, http.StatusNoContent)
	s.Get(t, self).Expect(t, http.StatusNotFound)

	var types []string
	if err := s.Store.DB.Model(&model.Event{}).Where("type LIKE ?", "api:git_remotes:%").Order("id").Pluck("type", &types).Error; err != nil {
		t.Fatal(err)
	}
	want := "create create archive unarchive update update update delete"
	if got := strings.ReplaceAll(strings.Join(types, " "), "api:git_remotes:", ""); got != want {
		t.Fatalf("events = %s, want %s", got, want)
	}
	events := sec.check(t, s.Get(t, "/api/events?limit=100")).Expect(t, http.StatusOK)
	if !strings.Contains(string(events.Body), "api:git_remotes:update") {
		t.Fatal("events do not list the credential updates")
	}
}

func TestRemoteBadInput(t *testing.T) {
	t.Parallel()
	s := remoteServer(t)
	key := string(testgit.SSHKey(t))
	sec := remoteSecrets{"hunter2-b4d-input"}
	first := s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{"name": "origin", "url": "https://example.com/r.git"})).Expect(t, http.StatusCreated)
	self := remoteColl + "/" + remoteAttrs(t, first).ID
	ok := "https://example.com/other.git"

	cases := []struct {
		name, method, path string
		body               any
		status             int
		pointer            string
	}{
		{"url with spaces", "POST", remoteColl, map[string]any{"name": "a", "url": "https://example.com/my repo.git"}, 422, "/data/attributes/url"},
		{"ext transport", "POST", remoteColl, map[string]any{"name": "a", "url": "ext::sh -c touch% /tmp/pwned"}, 422, "/data/attributes/url"},
		{"fd transport", "POST", remoteColl, map[string]any{"name": "a", "url": "fd::7"}, 422, "/data/attributes/url"},
		{"password in url", "POST", remoteColl, map[string]any{"name": "a", "url": "https://me:" + sec[0] + "@example.com/r.git"}, 422, "/data/attributes/url"},
		{"url not a string", "POST", remoteColl, map[string]any{"name": "a", "url": 7}, 422, "/data/attributes/url"},
		{"missing url", "POST", remoteColl, map[string]any{"name": "a"}, 422, "/data/attributes/url"},
		{"duplicate name", "POST", remoteColl, map[string]any{"name": "origin", "url": ok}, 422, "/data/attributes/name"},
		{"invalid pem", "POST", remoteColl, map[string]any{"name": "a", "url": ok, "password": sec[0],
			"ssh_key_data": "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n"}, 422, "/data/attributes/ssh_key_data"},
		{"5 MiB ssh key", "POST", remoteColl, map[string]any{"name": "a", "url": ok, "ssh_key_data": strings.Repeat("A", 5<<20)}, 413, ""},
		{"unknown attribute", "POST", remoteColl, map[string]any{"name": "a", "url": ok, "branch": "main"}, 422, "/data/attributes/branch"},
		{"unknown project", "POST", "/api/projects/nope/git_remotes", map[string]any{"name": "a", "url": ok}, 404, ""},
		{"mixed patch", "PATCH", self, map[string]any{"archived": true, "password": sec[0]}, 422, "/data/attributes/archived"},
		{"empty patch", "PATCH", self, map[string]any{}, 422, "/data/attributes"},
		{"archived not bool", "PATCH", self, map[string]any{"archived": "yes"}, 422, "/data/attributes/archived"},
		{"patch name", "PATCH", self, map[string]any{"name": "renamed"}, 422, "/data/attributes/name"},
		{"patch invalid pem", "PATCH", self, map[string]any{"ssh_key_data": "junk"}, 422, "/data/attributes/ssh_key_data"},
		{"patch unknown remote", "PATCH", remoteColl + "/" + model.NewID(), map[string]any{"archived": true}, 404, ""},
		{"patch not a uuid", "PATCH", remoteColl + "/x'1", map[string]any{"archived": true}, 404, ""},
		{"delete unknown", "DELETE", remoteColl + "/" + model.NewID(), nil, 404, ""},
		{"show in unknown project", "GET", "/api/projects/nope/git_remotes/" + model.NewID(), nil, 404, ""},
		{"list unknown project", "GET", "/api/projects/nope/git_remotes", nil, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != nil {
				body = testutil.Attrs("git_remote", c.body.(map[string]any))
			}
			r := sec.check(t, s.Do(t, testutil.Request{Method: c.method, Path: c.path, Body: body})).Expect(t, c.status)
			e := r.ErrorObject(t)
			if c.pointer != "" {
				src, _ := e["source"].(map[string]any)
				if src["pointer"] != c.pointer {
					t.Fatalf("source = %v, want pointer %s", e["source"], c.pointer)
				}
			}
			if strings.Contains(string(r.Body), key) {
				t.Fatal("error echoes the key")
			}
		})
	}
	s.Post(t, "/api/projects/opc/git_remotes", "{").Expect(t, http.StatusBadRequest)

	// Nothing was written by any refused request.
	var remotes, events int64
	s.Store.DB.Model(&model.GitRemote{}).Count(&remotes)
	s.Store.DB.Model(&model.Event{}).Where("type LIKE ?", "api:git_remotes:%").Count(&events)
	if remotes != 1 || events != 1 {
		t.Fatalf("%d remotes and %d git remote events after refused requests, want 1 and 1", remotes, events)
	}
	if a := remoteAttrs(t, s.Get(t, self)); a.Archived || a.Password != nil {
		t.Fatalf("refused patches changed the remote: %+v", a)
	}
}

// TestRemoteArchivedProject: an archived project keeps its remotes readable
// but accepts no new ones.
func TestRemoteArchivedProject(t *testing.T) {
	t.Parallel()
	s := remoteServer(t)
	s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{"name": "origin", "url": "https://example.com/r.git"})).Expect(t, http.StatusCreated)
	s.Delete(t, "/api/projects/opc").Expect(t, http.StatusNoContent)
	r := s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{"name": "late", "url": "https://example.com/r.git"})).Expect(t, http.StatusUnprocessableEntity)
	if r.ErrorObject(t)["code"] != "archived_parent" {
		t.Fatalf("error = %s", r.Body)
	}
	if n := len(testutil.Many[testutil.GitRemote](t, s.Get(t, remoteColl).Expect(t, http.StatusOK))); n != 1 {
		t.Fatalf("%d remotes listed in the archived project", n)
	}
}

// TestRemoteDeleteKeepsUsedRemote walks the delete of a remote a change used.
func TestRemoteDeleteKeepsUsedRemote(t *testing.T) {
	t.Parallel()
	s := remoteServer(t)
	sec := remoteSecrets{"kept-user-0e2f", "kept-pass-93aa"}
	created := s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{"name": "origin", "url": "https://example.com/r.git",
		"user": sec[0], "password": sec[1]})).Expect(t, http.StatusCreated)
	id := remoteAttrs(t, created).ID
	self := remoteColl + "/" + id
	project, err := s.Store.NodeByPath(context.Background(), "/projects/opc")
	if err != nil {
		t.Fatal(err)
	}
	testutil.InsertFinishedChange(t, s.Store.DB, project.ID, id)

	refused := sec.check(t, s.Delete(t, self)).Expect(t, http.StatusUnprocessableEntity)
	if refused.ErrorObject(t)["code"] != "not_archived" {
		t.Fatalf("delete before archive: %s", refused.Body)
	}
	remoteCreds(t, remoteAttrs(t, s.Get(t, self)), true, true, false)

	s.Patch(t, self, testutil.Attrs("git_remote", map[string]any{"archived": true})).Expect(t, http.StatusOK)
	kept := sec.check(t, s.Delete(t, self)).Expect(t, http.StatusOK)
	d := kept.Data(t)
	meta, _ := d["meta"].(map[string]any)
	if meta["credentials_removed"] != true || len(meta["messages"].([]any)) != 1 {
		t.Fatalf("meta = %v", d["meta"])
	}
	remoteCreds(t, remoteAttrs(t, kept), false, false, false)
	if a := remoteAttrs(t, s.Get(t, self).Expect(t, http.StatusOK)); !a.Archived {
		t.Fatalf("kept remote = %+v", a)
	}
	remoteCreds(t, remoteAttrs(t, s.Get(t, self)), false, false, false)
}

// TestRemoteResolvesRealRepo: a remote created over HTTP with a real
// repository is what a run resolves revs against.
func TestRemoteResolvesRealRepo(t *testing.T) {
	t.Parallel()
	s := remoteServer(t)
	repo := testgit.New(t)
	sha := repo.Commit("first", map[string]string{"actions.yaml": "actions: {}\n"})
	repo.Git("tag", "v1")
	s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{"name": "local", "url": repo.URL()})).Expect(t, http.StatusCreated)

	ctx := context.Background()
	p, err := s.Store.NodeByPath(ctx, "/projects/opc")
	if err != nil {
		t.Fatal(err)
	}
	g, remote, err := s.Store.RemoteForRun(ctx, p, "local")
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range []string{"main", "v1", sha, sha[:8]} {
		if got, err := s.Store.Git.Resolve(ctx, remote, rev); err != nil || got != sha {
			t.Errorf("resolve %s = %q, %v; want %s", rev, got, err, sha)
		}
	}
	s.Patch(t, remoteColl+"/"+g.ID, testutil.Attrs("git_remote", map[string]any{"archived": true})).Expect(t, http.StatusOK)
	if _, _, err := s.Store.RemoteForRun(ctx, p, "local"); steward.ErrorKind(err) != steward.KindInvalid {
		t.Fatalf("archived remote for a run: %v, want 422", err)
	}
}

// TestRemoteLocalURLs: unless local remotes are allowed, file:// URLs and
// local paths reach the server's disk and are 422s at /data/attributes/url.
func TestRemoteLocalURLs(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	s.Store.Git.AllowLocal = false // before the first request
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).Expect(t, http.StatusCreated)
	for _, u := range []string{"file:///etc", "file://" + s.Store.Git.Dir, "/tmp/x", "./x"} {
		r := s.Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{"name": "local", "url": u})).Expect(t, http.StatusUnprocessableEntity)
		if src, _ := r.ErrorObject(t)["source"].(map[string]any); src["pointer"] != "/data/attributes/url" {
			t.Fatalf("%s: error %s, want pointer /data/attributes/url", u, r.Body)
		}
	}
	// Test servers allow them, as STEWARD_ALLOW_LOCAL_REMOTES does.
	remoteServer(t).Post(t, remoteColl, testutil.Attrs("git_remote", map[string]any{"name": "local", "url": "file:///etc"})).Expect(t, http.StatusCreated)
}
