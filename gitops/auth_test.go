package gitops

import (
	"context"
	"errors"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/stewardhq/steward/internal/testgit"
)

func TestAuthMethods(t *testing.T) {
	t.Parallel()
	key := testgit.SSHKey(t)
	pub, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := "git.example.com " + string(ssh.MarshalAuthorizedKey(pub.PublicKey()))

	if _, err := (Credentials{}).method("ssh://git@git.example.com/a.git"); err == nil {
		t.Error("an SSH remote without a key was accepted")
	}
	if _, err := (Credentials{SSHKey: key}).method("git@git.example.com:a/b.git"); err == nil {
		t.Error("an SSH remote without known_hosts was accepted: host keys must never be ignored")
	}
	m, err := (Credentials{SSHKey: key, KnownHosts: knownHosts}).method("git@git.example.com:a/b.git")
	if err != nil {
		t.Fatalf("SSH with key and known_hosts: %v", err)
	}
	keys, ok := m.(*gitssh.PublicKeys)
	if !ok || keys.User != "git" || keys.HostKeyCallback == nil {
		t.Fatalf("SSH auth = %#v", m)
	}
	if err := keys.HostKeyCallback("git.example.com:22", &net22{}, pub.PublicKey()); err != nil {
		t.Errorf("the known host key was refused: %v", err)
	}
	other, _ := ssh.ParsePrivateKey(testgit.SSHKey(t))
	if err := keys.HostKeyCallback("git.example.com:22", &net22{}, other.PublicKey()); err == nil {
		t.Error("an unknown host key was accepted")
	}
	if err := ValidateSSHKey([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n")); err == nil {
		t.Error("an invalid PEM key validated")
	}
	basic, err := (Credentials{Password: "tok"}).method("https://host/a.git")
	if b, ok := basic.(*githttp.BasicAuth); err != nil || !ok || b.Username != "git" || b.Password != "tok" {
		t.Fatalf("token auth = %#v, %v", basic, err)
	}
	if anon, err := (Credentials{}).method("https://host/a.git"); anon != nil || err != nil {
		t.Fatalf("anonymous https = %#v, %v", anon, err)
	}
}

type net22 struct{}

func (*net22) Network() string { return "tcp" }
func (*net22) String() string  { return "192.0.2.1:22" }

// TestBadCredentials serves a real repository through git http-backend behind
// basic auth: a wrong password is an auth error that never shows the password.
func TestBadCredentials(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	sha := repo.Commit("one", map[string]string{"a.txt": "1"})
	srv := testgit.NewHTTPServer(t, repo, map[string]string{"bob": "right-password"})
	url := srv.RepoURL
	ctx := context.Background()

	m := NewMirrors(t.TempDir())
	got, err := m.Resolve(ctx, Remote{URL: url, Auth: Credentials{User: "bob", Password: "right-password"}}, "main")
	if err != nil || got != sha {
		t.Fatalf("with the right password: %q, %v", got, err)
	}
	_, err = NewMirrors(t.TempDir()).Resolve(ctx, Remote{URL: url, Auth: Credentials{User: "bob", Password: "wrong-password"}}, "main")
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != ErrAuth {
		t.Fatalf("wrong password: %v, want an auth error", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("the error shows the password: %v", err)
	}
}
