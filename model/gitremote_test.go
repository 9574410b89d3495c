package model_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// remoteStore is a store with a secret box and git mirrors, and project opc.
func remoteStore(t *testing.T) (*run.Store, *model.Node) {
	t.Helper()
	store := testutil.NewStore(t)
	p, err := store.CreateNode(context.Background(), model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	return store, p
}

func remoteStr(s string) *string { return &s }

// remoteExpectInvalid checks err is a 422 naming the attribute field.
func remoteExpectInvalid(t *testing.T, err error, field string) {
	t.Helper()
	e := steward.AsError(err)
	if err == nil || e.Kind != steward.KindInvalid || e.Field != field {
		t.Fatalf("err = %v (field %q), want 422 at %s", err, e.Field, field)
	}
}

func TestRemoteCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	store, p := remoteStore(t)
	ctx := context.Background()
	ok := "https://example.com/repo.git"
	for name, c := range map[string]struct {
		in      model.GitRemoteInput
		pointer string
	}{
		"blank name":       {model.GitRemoteInput{Name: " ", URL: ok}, "name"},
		"url with spaces":  {model.GitRemoteInput{Name: "a", URL: "https://example.com/my repo.git"}, "url"},
		"ext transport":    {model.GitRemoteInput{Name: "a", URL: "ext::sh -c touch% /tmp/pwned"}, "url"},
		"ext no spaces":    {model.GitRemoteInput{Name: "a", URL: "ext::sh"}, "url"},
		"fd transport":     {model.GitRemoteInput{Name: "a", URL: "fd::17"}, "url"},
		"unknown scheme":   {model.GitRemoteInput{Name: "a", URL: "gopher://example.com/x"}, "url"},
		"empty url":        {model.GitRemoteInput{Name: "a", URL: ""}, "url"},
		"password in url":  {model.GitRemoteInput{Name: "a", URL: "https://me:s3cret@example.com/r.git"}, "url"},
		"invalid pem":      {model.GitRemoteInput{Name: "a", URL: ok, Credentials: model.CredentialsInput{SSHKey: remoteStr("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n")}}, "ssh_key_data"},
		"huge ssh key":     {model.GitRemoteInput{Name: "a", URL: ok, Credentials: model.CredentialsInput{SSHKey: remoteStr(strings.Repeat("k", 5<<20))}}, "ssh_key_data"},
		"password too big": {model.GitRemoteInput{Name: "a", URL: ok, Credentials: model.CredentialsInput{Password: remoteStr(strings.Repeat("p", 5000))}}, "password"},
	} {
		_, err := store.CreateGitRemote(ctx, model.SystemActor, p, c.in)
		t.Run(name, func(t *testing.T) { remoteExpectInvalid(t, err, c.pointer) })
	}
	if n := testutil.Count(t, store.DB, "git_remotes"); n != 0 {
		t.Fatalf("%d git remotes written by refused creates", n)
	}
}

func TestRemoteCreateRules(t *testing.T) {
	t.Parallel()
	store, p := remoteStore(t)
	ctx := context.Background()
	for _, u := range []string{"https://github.com/o/r.git", "ssh://git@example.com/o/r.git", "git@github.com:o/r.git", "file:///srv/git/r.git"} {
		if _, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: u, URL: u}); err != nil {
			t.Fatalf("create %s: %v", u, err)
		}
	}
	_, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: "git@github.com:o/r.git", URL: "https://x.example/r"})
	remoteExpectInvalid(t, err, "name")

	// The same name is fine in another project.
	other, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "other", Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateGitRemote(ctx, model.SystemActor, other, model.GitRemoteInput{Name: "git@github.com:o/r.git", URL: "https://x.example/r"}); err != nil {
		t.Fatalf("same name in another project: %v", err)
	}

	if _, err := store.ArchiveNode(ctx, model.SystemActor, other); err != nil {
		t.Fatal(err)
	}
	_, err = store.CreateGitRemote(ctx, model.SystemActor, other, model.GitRemoteInput{Name: "late", URL: "https://x.example/r"})
	if e := steward.AsError(err); err == nil || e.Kind != steward.KindInvalid || e.Code != "archived_parent" {
		t.Fatalf("create in archived project: %v, want 422 archived_parent", err)
	}
	if n := testutil.Count(t, store.DB, "git_remotes"); n != 5 {
		t.Fatalf("%d git remotes, want 5", n)
	}
}

// TestRemoteCredentialsSealed reads the raw rows and events: no plaintext
// secret may be stored anywhere, and credentials updates keep, replace or clear.
func TestRemoteCredentialsSealed(t *testing.T) {
	t.Parallel()
	store, p := remoteStore(t)
	ctx := context.Background()
	user, password, key := "deploy-user-7f3a", "pa55-w0rd-91bc", string(testgit.SSHKey(t))
	g, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: "origin", URL: "https://example.com/r.git",
		Credentials: model.CredentialsInput{User: &user, Password: &password, SSHKey: &key}})
	if err != nil {
		t.Fatal(err)
	}
	checkRaw := func(secrets ...string) {
		t.Helper()
		for _, table := range []string{"git_remotes", "events"} {
			rows, err := store.DB.Table(table).Rows()
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				var raw strings.Builder
				for _, v := range vals {
					if b, ok := v.([]byte); ok {
						v = string(b)
					}
					fmt.Fprint(&raw, v, "|")
				}
				for _, s := range secrets {
					if strings.Contains(raw.String(), s) {
						t.Fatalf("%s row holds a plaintext secret: %s", table, raw.String())
					}
				}
			}
			rows.Close()
		}
	}
	checkRaw(user, password, key, strings.Split(key, "\n")[1])
	if g.UserSecret == nil || g.PasswordSecret == nil || g.SSHKeySecret == nil {
		t.Fatalf("credentials not stored: %+v", g.Credentials)
	}

	// nil keeps, a value replaces, "" clears.
	newPassword := "n3w-pa55-44d1"
	g2, err := store.UpdateGitRemoteCredentials(ctx, model.SystemActor, p, g, model.CredentialsInput{Password: &newPassword, SSHKey: remoteStr("")})
	if err != nil {
		t.Fatal(err)
	}
	if g2.UserSecret == nil || *g2.UserSecret != *g.UserSecret || g2.PasswordSecret == nil || *g2.PasswordSecret == *g.PasswordSecret || g2.SSHKeySecret != nil {
		t.Fatalf("after update: %+v (before %+v)", g2.Credentials, g.Credentials)
	}
	checkRaw(user, password, newPassword, strings.Split(key, "\n")[1])
	_, creds, err := store.RemoteForRun(ctx, p, "origin")
	if err != nil {
		t.Fatal(err)
	}
	if creds.Auth.User != user || creds.Auth.Password != newPassword || creds.Auth.SSHKey != nil {
		t.Fatalf("opened credentials do not match what was set (user %v, password set %v, key %d bytes)",
			creds.Auth.User == user, creds.Auth.Password == newPassword, len(creds.Auth.SSHKey))
	}

	_, err = store.UpdateGitRemoteCredentials(ctx, model.SystemActor, p, g2, model.CredentialsInput{})
	if e := steward.AsError(err); err == nil || e.Code != "empty_update" || e.Pointer != "/data/attributes" {
		t.Fatalf("an empty credentials update = %v (pointer %q), want 422 empty_update at /data/attributes", err, e.Pointer)
	}
	_, err = store.UpdateGitRemoteCredentials(ctx, model.SystemActor, p, g2, model.CredentialsInput{SSHKey: remoteStr("not a key")})
	remoteExpectInvalid(t, err, "ssh_key_data")

	var events []model.Event
	if err := store.DB.Where("type LIKE ?", "api:git_remotes:%").Order("id").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != "api:git_remotes:create" || events[1].Type != "api:git_remotes:update" {
		t.Fatalf("events = %+v, want create then update", events)
	}
}

func TestRemoteForRunResolvesRealRepo(t *testing.T) {
	t.Parallel()
	store, p := remoteStore(t)
	ctx := context.Background()
	repo := testgit.New(t)
	sha := repo.Commit("first", map[string]string{"actions.yaml": "actions: {}\n"})
	if _, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: "local", URL: repo.URL()}); err != nil {
		t.Fatal(err)
	}
	g, remote, err := store.RemoteForRun(ctx, p, "local")
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Git.Resolve(ctx, remote, "main")
	if err != nil || got != sha || g.Name != "local" {
		t.Fatalf("resolve main = %q, %v; want %s", got, err, sha)
	}

	_, _, err = store.RemoteForRun(ctx, p, "nope")
	remoteExpectInvalid(t, err, "git_remote_name")
	if _, err := store.SetGitRemoteArchived(ctx, model.SystemActor, p, g, true); err != nil {
		t.Fatal(err)
	}
	_, _, err = store.RemoteForRun(ctx, p, "local")
	remoteExpectInvalid(t, err, "git_remote_name")
	// Archived remotes stay readable.
	if ag, err := store.GetGitRemote(ctx, p, g.ID); err != nil || !ag.Archived {
		t.Fatalf("archived remote: %+v, %v", ag, err)
	}
	if _, err := store.SetGitRemoteArchived(ctx, model.SystemActor, p, g, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.RemoteForRun(ctx, p, "local"); err != nil {
		t.Fatalf("unarchived remote: %v", err)
	}
}

func TestRemoteDelete(t *testing.T) {
	t.Parallel()
	store, p := remoteStore(t)
	ctx := context.Background()
	create := func(name string) *model.GitRemote {
		t.Helper()
		g, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: name, URL: "https://example.com/" + name,
			Credentials: model.CredentialsInput{User: remoteStr("u"), Password: remoteStr("p")}})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	unused := create("unused")
	kept, err := store.DeleteGitRemote(ctx, model.SystemActor, p, unused)
	if err != nil || kept != nil {
		t.Fatalf("delete unused: kept %+v, %v", kept, err)
	}
	if _, err := store.GetGitRemote(ctx, p, unused.ID); steward.ErrorKind(err) != steward.KindNotFound {
		t.Fatalf("deleted remote still found: %v", err)
	}

	// A change that ran with the remote keeps it.
	used := create("used")
	testutil.InsertFinishedChange(t, store.DB, p.ID, used.ID)
	_, err = store.DeleteGitRemote(ctx, model.SystemActor, p, used)
	if e := steward.AsError(err); err == nil || e.Kind != steward.KindInvalid || e.Code != "not_archived" {
		t.Fatalf("delete used, unarchived remote: %v, want 422 not_archived", err)
	}
	if g, _ := store.GetGitRemote(ctx, p, used.ID); g == nil || !g.HasAny() {
		t.Fatalf("refused delete changed the remote: %+v", g)
	}
	if used, err = store.SetGitRemoteArchived(ctx, model.SystemActor, p, used, true); err != nil {
		t.Fatal(err)
	}
	kept, err = store.DeleteGitRemote(ctx, model.SystemActor, p, used)
	if err != nil || kept == nil || kept.HasAny() || !kept.Archived {
		t.Fatalf("delete used remote: kept %+v, %v; want the row without credentials", kept, err)
	}
	var deletes int64
	store.DB.Model(&model.Event{}).Where("type = ?", "api:git_remotes:delete").Count(&deletes)
	if deletes != 2 {
		t.Fatalf("%d delete events, want 2", deletes)
	}
}

// TestRemotesShareNoUnprovenFetch: remotes of two projects on one URL share a
// mirror, but a change through a remote without credentials, or with a wrong
// password, is refused (git_auth) right after a good remote fetched, and the
// Git server saw each of them.
func TestRemotesShareNoUnprovenFetch(t *testing.T) {
	t.Parallel()
	store, sec := remoteStore(t)
	ctx := context.Background()
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": "actions:\n  build:\n    run: echo private\n"})
	srv := testgit.NewHTTPServer(t, repo, map[string]string{"bob": "right"})
	other, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "other", Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		project  *model.Node
		name     string
		password string
	}{{sec, "good", "right"}, {sec, "wrong", "wrong"}, {other, "nocreds", ""}} {
		in := model.GitRemoteInput{Name: r.name, URL: srv.RepoURL}
		if r.password != "" {
			in.Credentials = model.CredentialsInput{User: remoteStr("bob"), Password: remoteStr(r.password)}
		}
		if _, err := store.CreateGitRemote(ctx, model.SystemActor, r.project, in); err != nil {
			t.Fatal(err)
		}
	}
	change := func(project *model.Node, remote string) error {
		_, err := store.CreateChange(ctx, model.SystemActor, project, run.ChangeInput{Action: "build", GitRemoteName: remoteStr(remote), GitRev: remoteStr("main")})
		return err
	}
	if err := change(sec, "good"); err != nil {
		t.Fatalf("change through the good remote: %v", err)
	}
	for _, c := range []struct {
		project        *model.Node
		remote         string
		user, password string
	}{{other, "nocreds", "", ""}, {sec, "wrong", "bob", "wrong"}} {
		before := srv.Requests(c.user, c.password)
		err := change(c.project, c.remote)
		if e := steward.AsError(err); err == nil || e.Kind != steward.KindInvalid || e.Code != "git_auth" || e.Field != "git_remote_name" {
			t.Fatalf("change through %s right after a good fetch: %v, want 422 git_auth", c.remote, err)
		}
		if srv.Requests(c.user, c.password) == before {
			t.Fatalf("the Git server saw no request from %s", c.remote)
		}
	}
}

// TestLocalRemotesRefusedUnlessAllowed: with local remotes off, file:// and
// local-path URLs are 422s at url for git remotes and templates, and a
// remote stored while they were allowed cannot be used for a change.
func TestLocalRemotesRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	store, p := remoteStore(t)
	ctx := context.Background()
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": "actions:\n  build:\n    run: echo hi\n"})
	if _, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: "stored", URL: repo.URL()}); err != nil {
		t.Fatalf("file:// remote with local remotes allowed: %v", err)
	}
	store.Git.AllowLocal = false
	for i, u := range []string{"file:///etc", repo.URL(), "/tmp/x", "./x"} {
		_, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: fmt.Sprintf("local%d", i), URL: u})
		remoteExpectInvalid(t, err, "url")
		_, err = store.CreateTemplate(ctx, model.SystemActor, p, model.TemplateInput{Code: fmt.Sprintf("t%d", i), Name: "T", URL: u})
		remoteExpectInvalid(t, err, "url")
	}
	_, err := store.CreateChange(ctx, model.SystemActor, p, run.ChangeInput{Action: "build", GitRemoteName: remoteStr("stored"), GitRev: remoteStr("main")})
	if e := steward.AsError(err); err == nil || e.Kind != steward.KindInvalid {
		t.Fatalf("change through a stored file:// remote with local remotes off: %v, want 422", err)
	}
	if n := testutil.Count(t, store.DB, "changes"); n != 0 {
		t.Fatalf("%d changes written", n)
	}
}
