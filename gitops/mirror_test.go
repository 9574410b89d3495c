package gitops_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
)

func TestResolveRevs(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	first := repo.Commit("first", map[string]string{"actions.yaml": "actions: {}\n"})
	repo.Git("tag", "light")
	repo.Git("tag", "-a", "annotated", "-m", "release")
	repo.Git("checkout", "-q", "-b", "feature")
	feature := repo.Commit("feature work", map[string]string{"f.txt": "x"})
	repo.Git("checkout", "-q", "main")
	second := repo.Commit("second", map[string]string{"actions.yaml": "actions: {build: {run: make}}\n"})

	m := gitops.NewMirrors(t.TempDir())
	m.AllowLocal = true // the test repositories are file:// remotes
	remote := gitops.Remote{URL: repo.URL()}
	ctx := context.Background()
	cases := []struct{ rev, want string }{
		{"main", second},
		{"feature", feature},
		{"light", first},
		{"annotated", first},
		{first, first},
		{first[:10], first},
		{strings.ToUpper(second[:12]), second},
	}
	for _, c := range cases {
		got, err := m.Resolve(ctx, remote, c.rev)
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.rev, got, err, c.want)
		}
	}
	for _, bad := range []string{"nope", "deadbeef", "--upload-pack=x", "main..feature", "a b"} {
		_, err := m.Resolve(ctx, remote, bad)
		var ge *gitops.Error
		if !errors.As(err, &ge) {
			t.Errorf("Resolve(%q) error %v is not a gitops.Error", bad, err)
			continue
		}
		if !strings.Contains(err.Error(), repo.URL()) {
			t.Errorf("error %q does not name the remote", err)
		}
	}
}

func TestFetchPicksUpNewCommits(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	repo.Commit("one", map[string]string{"a.txt": "1"})
	m := gitops.NewMirrors(t.TempDir())
	m.AllowLocal = true // the test repositories are file:// remotes
	m.Freshness = 0
	remote := gitops.Remote{URL: repo.URL()}
	ctx := context.Background()
	if _, err := m.Resolve(ctx, remote, "main"); err != nil {
		t.Fatal(err)
	}
	two := repo.Commit("two", map[string]string{"a.txt": "2"})
	got, err := m.Resolve(ctx, remote, "main")
	if err != nil || got != two {
		t.Fatalf("after a new commit Resolve = %q, %v; want %q", got, err, two)
	}
	refs, err := m.LsRemote(ctx, remote)
	if err != nil || refs["refs/heads/main"] != two {
		t.Fatalf("LsRemote = %v, %v; want main at %s", refs, err, two)
	}
	repo.Git("tag", "-a", "v1", "-m", "v1")
	refs, err = m.LsRemote(ctx, remote)
	if err != nil || refs["refs/tags/v1"] != two {
		t.Fatalf("LsRemote did not peel the annotated tag: %v, %v", refs, err)
	}
}

func TestReadAndMaterialise(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	sha := repo.Commit("tree", map[string]string{
		"actions.yaml":                 "actions: {}\n",
		"properties/base.json":         `{"a":1}`,
		"properties/projects/p/x.yaml": "b: 2\n",
		"scripts/run.sh":               "#!/bin/sh\necho hi\n",
	})
	if err := os.Chmod(filepath.Join(repo.Dir, "scripts", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if next := repo.Commit("exec bit", nil); next == sha {
		t.Fatal("chmod was not committed")
	} else {
		sha = next
	}
	m := gitops.NewMirrors(t.TempDir())
	m.AllowLocal = true // the test repositories are file:// remotes
	remote := gitops.Remote{URL: repo.URL()}
	ctx := context.Background()

	got, err := m.ReadFile(ctx, remote, sha, "actions.yaml")
	if err != nil || string(got) != "actions: {}\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if _, err := m.ReadFile(ctx, remote, sha, "missing.yaml"); !errors.Is(err, gitops.ErrFileNotFound) {
		t.Fatalf("missing file error = %v", err)
	}
	files, err := m.ReadDir(ctx, remote, sha, "properties")
	if err != nil || len(files) != 2 || string(files["properties/projects/p/x.yaml"]) != "b: 2\n" {
		t.Fatalf("ReadDir = %v, %v", files, err)
	}
	dest := filepath.Join(t.TempDir(), "work")
	if err := m.Materialise(ctx, remote, sha, dest); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dest, "scripts", "run.sh"))
	if err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("run.sh not materialised executable: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dest, ".git")); !os.IsNotExist(err) {
		t.Fatalf("materialised tree has a .git: %v", err)
	}
}

func TestUnreachableRemoteLeavesNoMirror(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := gitops.NewMirrors(dir)
	m.AllowLocal = true
	_, err := m.Resolve(context.Background(), gitops.Remote{URL: "file://" + filepath.Join(dir, "does-not-exist")}, "main")
	if err == nil {
		t.Fatal("resolving against a missing repository succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("a failed clone left %d entries behind", len(entries))
	}
}

func TestValidateURLAndRev(t *testing.T) {
	t.Parallel()
	good := []string{"https://github.com/a/b.git", "ssh://git@host/a.git", "git@github.com:a/b.git", "file:///tmp/x"}
	bad := []string{"", "ext::sh -c touch% /tmp/pwned", "https://host/a b", "ftp://host/x", "fd::17", "https://"}
	m := &gitops.Mirrors{AllowLocal: true}
	for _, u := range good {
		if err := m.ValidateURL(u); err != nil {
			t.Errorf("ValidateURL(%q) = %v", u, err)
		}
	}
	for _, u := range bad {
		if err := m.ValidateURL(u); err == nil {
			t.Errorf("ValidateURL(%q) accepted", u)
		}
	}
	if got := gitops.Redact("https://user:secret@host/x.git"); strings.Contains(got, "secret") {
		t.Errorf("Redact kept the password: %s", got)
	}
}
