// Package testgit builds real Git repositories for tests with the git CLI.
package testgit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitRepo is a real repository built with the git CLI in a temp dir; tests
// reach it through its file:// URL like any remote.
type GitRepo struct {
	Dir string
	t   testing.TB
}

// New initialises an empty repository on branch main.
func New(t testing.TB) *GitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is required: %v", err)
	}
	r := &GitRepo{Dir: t.TempDir(), t: t}
	r.Git("init", "-q", "-b", "main")
	r.Git("config", "user.email", "test@steward.invalid")
	r.Git("config", "user.name", "Steward Test")
	r.Git("config", "commit.gpgsign", "false")
	r.Git("config", "tag.gpgsign", "false")
	return r
}

// URL is the repository's file:// remote URL.
func (r *GitRepo) URL() string { return "file://" + r.Dir }

// Git runs a git command in the repository and returns its trimmed output.
func (r *GitRepo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (path -> content; "" deletes) and commits them,
// returning the new commit's SHA.
func (r *GitRepo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.Dir, filepath.FromSlash(p))
		if content == "" {
			_ = os.Remove(full)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Git("rev-parse", "HEAD")
}

// FromDir is a new repository holding a copy of the files under dir (a
// fixture in testdata/repos) in one commit on main.
func FromDir(t testing.TB, dir string) *GitRepo {
	t.Helper()
	r := New(t)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		content, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		full := filepath.Join(r.Dir, rel)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, content, info.Mode().Perm()|0o600)
	})
	if err != nil {
		t.Fatalf("copy fixture repository %s: %v", dir, err)
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", "fixture "+filepath.Base(dir))
	return r
}
