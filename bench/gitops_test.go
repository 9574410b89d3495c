package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stewardhq/steward/gitops"
)

const (
	repoFiles   = 10_000
	repoCommits = 5_000
)

// bigRepo builds a repository of 10,000 files and 5,000 commits with git
// fast-import (seconds, where one commit per git call would take minutes).
func bigRepo(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	run := func(stdin []byte, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run(nil, "init", "-q", "-b", "main")
	var s bytes.Buffer
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	commit := func(n int, body func()) {
		fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Bench <b@example.invalid> %d +0000\ndata <<EOM\ncommit %d\nEOM\n", ts+int64(n), n)
		body()
		s.WriteString("\n")
	}
	commit(0, func() {
		fmt.Fprintf(&s, "M 644 inline actions.yaml\ndata <<EOM\nactions:\n  build:\n    run: make build\nEOM\n")
		for i := 0; i < repoFiles-1; i++ {
			fmt.Fprintf(&s, "M 644 inline src/d%03d/f%05d.txt\ndata <<EOM\nfile %d\nEOM\n", i/100, i, i)
		}
	})
	for n := 1; n < repoCommits; n++ {
		commit(n, func() {
			i := n % (repoFiles - 1)
			fmt.Fprintf(&s, "M 644 inline src/d%03d/f%05d.txt\ndata <<EOM\nfile %d rev %d\nEOM\n", i/100, i, i, n)
		})
	}
	run(s.Bytes(), "fast-import", "--quiet")
	run(nil, "checkout", "-q", "main")
	return dir
}

// BenchmarkResolveAndReadActions: rev -> commit and actions.yaml at that commit
// from a warm mirror. Target: under 5 ms.
func BenchmarkResolveAndReadActions(b *testing.B) {
	dir := bigRepo(b)
	m := gitops.NewMirrors(b.TempDir())
	m.AllowLocal = true
	m.Freshness = time.Hour // warm: measure reading, not fetching
	remote := gitops.Remote{URL: "file://" + dir}
	ctx := context.Background()
	if _, err := m.Resolve(ctx, remote, "main"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sha, err := m.Resolve(ctx, remote, "main")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.ReadFile(ctx, remote, sha, "actions.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMaterialise compares writing a commit's 10,000 files from the
// mirror with the git CLI doing the same. Target: within 2x of the CLI.
func BenchmarkMaterialise(b *testing.B) {
	dir := bigRepo(b)
	m := gitops.NewMirrors(b.TempDir())
	m.AllowLocal = true
	m.Freshness = time.Hour
	remote := gitops.Remote{URL: "file://" + dir}
	ctx := context.Background()
	sha, err := m.Resolve(ctx, remote, "main")
	if err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	b.Run("steward", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dest := filepath.Join(work, fmt.Sprintf("s%d", i))
			if err := m.Materialise(ctx, remote, sha, dest); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = os.RemoveAll(dest)
			b.StartTimer()
		}
	})
	b.Run("git_worktree_add", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dest := filepath.Join(work, fmt.Sprintf("w%d", i))
			cmd := exec.Command("git", "-C", dir, "worktree", "add", "-q", "--detach", dest, sha)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			b.StopTimer()
			_ = exec.Command("git", "-C", dir, "worktree", "remove", "--force", dest).Run()
			b.StartTimer()
		}
	})
	b.Run("git_clone_local", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dest := filepath.Join(work, fmt.Sprintf("c%d", i))
			cmd := exec.Command("git", "clone", "-q", "--local", "--no-checkout", dir, dest)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			if out, err := exec.Command("git", "-C", dest, "checkout", "-q", sha).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			b.StopTimer()
			_ = os.RemoveAll(dest)
			b.StartTimer()
		}
	})
}
