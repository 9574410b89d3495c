package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
)

func wantKind(t *testing.T, what string, err error, kind gitops.ErrorKind) {
	t.Helper()
	var ge *gitops.Error
	if !errors.As(err, &ge) || ge.Kind != kind {
		t.Fatalf("%s: %v, want a %s error", what, err, kind)
	}
}

// TestFreshMirrorReprovesCredentials: one mirror per URL is shared, but only
// between uses that proved access. Right after a good fetch (well inside the
// freshness window) a use without credentials, or with a wrong password, must
// still reach the server and be refused; a good use inside the window reaches
// the server too, moves no objects while nothing changed, and sees a new commit.
func TestFreshMirrorReprovesCredentials(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	sha := repo.Commit("one", map[string]string{"actions.yaml": "actions: {}\n"})
	srv := testgit.NewHTTPServer(t, repo, map[string]string{"bob": "right"})
	m := gitops.NewMirrors(t.TempDir())
	m.Freshness = time.Hour // every use below is inside the window
	ctx := context.Background()
	good := gitops.Remote{URL: srv.RepoURL, Auth: gitops.Credentials{User: "bob", Password: "right"}}
	none := gitops.Remote{URL: srv.RepoURL}
	wrong := gitops.Remote{URL: srv.RepoURL, Auth: gitops.Credentials{User: "bob", Password: "wrong"}}

	if got, err := m.Resolve(ctx, good, "main"); err != nil || got != sha {
		t.Fatalf("good remote: %q, %v", got, err)
	}
	for name, use := range map[string]func(gitops.Remote) error{
		"Resolve":     func(r gitops.Remote) error { _, err := m.Resolve(ctx, r, "main"); return err },
		"Resolve SHA": func(r gitops.Remote) error { _, err := m.Resolve(ctx, r, sha); return err },
		"ReadFile":    func(r gitops.Remote) error { _, err := m.ReadFile(ctx, r, sha, "actions.yaml"); return err },
		"Materialise": func(r gitops.Remote) error {
			return m.Materialise(ctx, r, sha, filepath.Join(t.TempDir(), "work"))
		},
	} {
		before := srv.Requests("", "")
		wantKind(t, name+" without credentials", use(none), gitops.ErrAuth)
		if srv.Requests("", "") == before {
			t.Fatalf("%s without credentials never reached the server", name)
		}
		before = srv.Requests("bob", "wrong")
		wantKind(t, name+" with a wrong password", use(wrong), gitops.ErrAuth)
		if srv.Requests("bob", "wrong") == before {
			t.Fatalf("%s with a wrong password never reached the server", name)
		}
	}

	// A good use inside the window proves itself too, but fetches nothing
	// while the remote's refs match the mirror's.
	requests, fetches := srv.Requests("bob", "right"), srv.Fetches("bob", "right")
	if got, err := m.Resolve(ctx, good, "main"); err != nil || got != sha {
		t.Fatalf("good remote again: %q, %v", got, err)
	}
	if srv.Requests("bob", "right") == requests || srv.Fetches("bob", "right") != fetches {
		t.Fatalf("good reuse: %d requests, %d fetches; want a request and no fetch",
			srv.Requests("bob", "right")-requests, srv.Fetches("bob", "right")-fetches)
	}
	// ... and fetches as soon as they differ, window or not.
	two := repo.Commit("two", map[string]string{"a.txt": "2"})
	if got, err := m.Resolve(ctx, good, "main"); err != nil || got != two {
		t.Fatalf("after a push inside the window: %q, %v; want %s", got, err, two)
	}
}

// TestLocalRemotesNeedAllowLocal: file:// URLs and local paths reach the
// server's disk (its own mirrors included), so they are refused unless
// AllowLocal is set, both by ValidateURL and when a mirror is used: a remote
// stored while they were allowed is not fetched once they are not.
func TestLocalRemotesNeedAllowLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := gitops.NewMirrors(filepath.Join(dir, "mirrors"))
	local := []string{"file:///etc", "file://" + filepath.Join(dir, "mirrors"), "/tmp/x", "./x", "x", "FILE:///etc", `git@host:\x`}
	for _, u := range local {
		if err := m.ValidateURL(u); err == nil {
			t.Errorf("ValidateURL(%q) accepted a local remote", u)
		}
	}
	if err := (*gitops.Mirrors)(nil).ValidateURL("file:///etc"); err == nil {
		t.Error("no mirrors accepted a local remote")
	}
	for _, u := range []string{"https://github.com/a/b.git", "http://host/x", "ssh://git@host/a.git", "git@github.com:a/b.git"} {
		if err := m.ValidateURL(u); err != nil {
			t.Errorf("ValidateURL(%q) = %v", u, err)
		}
	}

	repo := testgit.New(t)
	sha := repo.Commit("one", map[string]string{"a.txt": "1"})
	remote := gitops.Remote{URL: repo.URL()}
	ctx := context.Background()
	m.AllowLocal = true
	for _, u := range []string{"file:///etc", repo.URL(), repo.Dir} {
		if err := m.ValidateURL(u); err != nil {
			t.Errorf("with AllowLocal, ValidateURL(%q) = %v", u, err)
		}
	}
	if err := m.ValidateURL("./relative"); err == nil {
		t.Error("a relative path was accepted: it would depend on the server's working directory")
	}
	// Even allowed, local remotes never reach into the server's own folders.
	if err := os.MkdirAll(filepath.Join(dir, "data", "git"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Named relative to the working directory, as the default ./steward-data is.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	m.Private = []string{rel}
	for _, u := range []string{"file://" + filepath.Join(dir, "mirrors", "abc.git"), filepath.Join(dir, "mirrors"),
		"file://" + filepath.Join(dir, "data"), filepath.Join(dir, "data", "work", "x", "..", "y"), "file://" + dir + "/x/../data", "file://" + filepath.Join(dir, "data", "git")} {
		if err := m.ValidateURL(u); err == nil || !strings.Contains(err.Error(), "data dir") {
			t.Errorf("with AllowLocal, ValidateURL(%q) = %v, want a refusal naming the data dir", u, err)
		}
	}
	if got, err := m.Resolve(ctx, remote, "main"); err != nil || got != sha {
		t.Fatalf("with AllowLocal: %q, %v", got, err)
	}
	m.AllowLocal = false
	_, err = m.Resolve(ctx, remote, "main")
	wantKind(t, "Resolve of a stored file:// remote", err, gitops.ErrInvalid)
	_, err = m.ReadFile(ctx, remote, sha, "a.txt")
	wantKind(t, "ReadFile of a stored file:// remote", err, gitops.ErrInvalid)
	_, err = m.LsRemote(ctx, remote)
	wantKind(t, "LsRemote of a stored file:// remote", err, gitops.ErrInvalid)
}

// TestURLUserWithPassword: http://u@host with only a password configured
// authenticates as u, the URL's user, not as "git".
func TestURLUserWithPassword(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	sha := repo.Commit("one", map[string]string{"a.txt": "1"})
	srv := testgit.NewHTTPServer(t, repo, map[string]string{"u": "pw"})
	url := strings.Replace(srv.RepoURL, "http://", "http://u@", 1)
	got, err := gitops.NewMirrors(t.TempDir()).Resolve(context.Background(), gitops.Remote{URL: url, Auth: gitops.Credentials{Password: "pw"}}, "main")
	if err != nil || got != sha {
		t.Fatalf("resolve as the URL's user: %q, %v", got, err)
	}
	if srv.Requests("u", "pw") == 0 || srv.Requests("git", "pw") != 0 {
		t.Fatalf("the server saw u %d times and git %d times; want u only", srv.Requests("u", "pw"), srv.Requests("git", "pw"))
	}
}

// TestRefusedSSHIsUnreachable: nothing listening on an SSH remote's port is a
// network error, whether or not the server has known_hosts for it; an auth
// error is kept for a server that was reached.
func TestRefusedSSHIsUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr)
	l.Close()
	key := testgit.SSHKey(t)
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hostKey := string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	url := "ssh://git@" + closed.String() + "/repo.git"
	ctx := context.Background()

	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", closed.Port, hostKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		file  string
		creds gitops.Credentials
	}{
		"known_hosts file":      {knownHosts, gitops.Credentials{SSHKey: key}},
		"remote's known_hosts":  {"", gitops.Credentials{SSHKey: key, KnownHosts: "127.0.0.1 " + hostKey}},
		"no known_hosts at all": {"", gitops.Credentials{SSHKey: key}},
		"no key":                {knownHosts, gitops.Credentials{}},
	} {
		m := gitops.NewMirrors(t.TempDir())
		m.KnownHostsFile = c.file
		_, err := m.Resolve(ctx, gitops.Remote{URL: url, Auth: c.creds}, "main")
		wantKind(t, name+": Resolve on a closed port", err, gitops.ErrUnreachable)
		if strings.Contains(err.Error(), "authentication") {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = m.LsRemote(ctx, gitops.Remote{URL: url, Auth: c.creds})
		wantKind(t, name+": LsRemote on a closed port", err, gitops.ErrUnreachable)
	}

	// A listening port without known_hosts is an auth (setup) error that says why.
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	_, err = gitops.NewMirrors(t.TempDir()).Resolve(ctx, gitops.Remote{URL: "ssh://git@" + open.Addr().String() + "/repo.git", Auth: gitops.Credentials{SSHKey: key}}, "main")
	wantKind(t, "no known_hosts, port open", err, gitops.ErrAuth)
	if !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("the auth error does not say known_hosts is missing: %v", err)
	}
}
