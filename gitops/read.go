package gitops

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

var hexRev = regexp.MustCompile(`^[0-9a-fA-F]{4,40}$`)

// Resolve turns rev into a commit SHA, trying in order: branch, tag (annotated
// tags peeled to their commit), full SHA, unambiguous short SHA. It fetches
// first unless the mirror is fresh.
func (m *Mirrors) Resolve(ctx context.Context, remote Remote, rev string) (string, error) {
	return m.resolveRev(ctx, remote, rev, false)
}

// ResolveFresh is Resolve after a fetch, even inside the freshness window: for
// pinning a rev (a template version) just after a push.
func (m *Mirrors) ResolveFresh(ctx context.Context, remote Remote, rev string) (string, error) {
	return m.resolveRev(ctx, remote, rev, true)
}

func (m *Mirrors) resolveRev(ctx context.Context, remote Remote, rev string, refresh bool) (string, error) {
	if err := ValidateRev(rev); err != nil {
		return "", &Error{Kind: ErrInvalid, Remote: remote.URL, Rev: rev, Err: err}
	}
	var sha string
	err := m.with(ctx, remote, refresh, func(repo *git.Repository) error {
		h, err := resolve(repo, rev)
		if err != nil {
			return &Error{Kind: ErrNotFound, Remote: remote.URL, Rev: rev, Err: err}
		}
		sha = h.String()
		return nil
	})
	return sha, err
}

// ResolveRead is Resolve, then ReadFile of the first of files that exists
// at the commit, in one use of the mirror (one proof of access instead of
// two): what creating a change needs. file is "" when none exists.
func (m *Mirrors) ResolveRead(ctx context.Context, remote Remote, rev string, files []string) (sha, file string, data []byte, err error) {
	if err := ValidateRev(rev); err != nil {
		return "", "", nil, &Error{Kind: ErrInvalid, Remote: remote.URL, Rev: rev, Err: err}
	}
	err = m.with(ctx, remote, false, func(repo *git.Repository) error {
		h, err := resolve(repo, rev)
		if err != nil {
			return &Error{Kind: ErrNotFound, Remote: remote.URL, Rev: rev, Err: err}
		}
		sha = h.String()
		tree, err := commitTree(repo, sha)
		if err != nil {
			return err
		}
		for _, p := range files {
			f, err := tree.File(path.Clean(p))
			if err != nil {
				continue
			}
			r, err := f.Reader()
			if err != nil {
				return err
			}
			defer r.Close()
			file = p
			data, err = io.ReadAll(r)
			return err
		}
		return nil
	})
	return sha, file, data, err
}

func resolve(repo *git.Repository, rev string) (plumbing.Hash, error) {
	if ref, err := repo.Reference(plumbing.NewBranchReferenceName(rev), true); err == nil {
		return ref.Hash(), nil
	}
	if ref, err := repo.Reference(plumbing.NewTagReferenceName(rev), true); err == nil {
		return peel(repo, ref.Hash())
	}
	if !hexRev.MatchString(rev) {
		return plumbing.ZeroHash, errors.New("no branch, tag or commit by that name")
	}
	rev = strings.ToLower(rev)
	if len(rev) == 40 {
		if _, err := repo.CommitObject(plumbing.NewHash(rev)); err != nil {
			return plumbing.ZeroHash, errors.New("no commit with that SHA")
		}
		return plumbing.NewHash(rev), nil
	}
	iter, err := repo.CommitObjects()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer iter.Close()
	var found plumbing.Hash
	matches := 0
	_ = iter.ForEach(func(c *object.Commit) error {
		if strings.HasPrefix(c.Hash.String(), rev) {
			found = c.Hash
			matches++
		}
		return nil
	})
	switch matches {
	case 0:
		return plumbing.ZeroHash, errors.New("no branch, tag or commit by that name")
	case 1:
		return found, nil
	}
	return plumbing.ZeroHash, errors.New("the short SHA is ambiguous; give more characters")
}

// peel follows annotated tags down to the commit they name.
func peel(repo *git.Repository, h plumbing.Hash) (plumbing.Hash, error) {
	for i := 0; i < 10; i++ {
		tag, err := repo.TagObject(h)
		if err != nil {
			return h, nil // not a tag object: a lightweight tag pointing at the commit
		}
		if tag.TargetType == plumbing.CommitObject {
			return tag.Target, nil
		}
		h = tag.Target
	}
	return plumbing.ZeroHash, errors.New("tag chain too deep")
}

func commitTree(repo *git.Repository, sha string) (*object.Tree, error) {
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return nil, err
	}
	return c.Tree()
}

// ErrFileNotFound is returned (wrapped) when a path does not exist at a commit.
var ErrFileNotFound = errors.New("file not found at commit")

// ReadFile returns the content of file p at commit sha, without a work tree.
func (m *Mirrors) ReadFile(ctx context.Context, remote Remote, sha, p string) ([]byte, error) {
	var out []byte
	err := m.withCommit(ctx, remote, sha, func(tree *object.Tree) error {
		f, err := tree.File(path.Clean(p))
		if err != nil {
			return ErrFileNotFound
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		out, err = io.ReadAll(r)
		return err
	})
	return out, err
}

// ReadDir returns every file below folder dir at commit sha, keyed by path
// relative to the repository root. A missing folder yields an empty map.
func (m *Mirrors) ReadDir(ctx context.Context, remote Remote, sha, dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := m.withCommit(ctx, remote, sha, func(tree *object.Tree) error {
		sub, err := tree.Tree(path.Clean(dir))
		if err != nil {
			return nil
		}
		return sub.Files().ForEach(func(f *object.File) error {
			content, err := f.Contents()
			if err != nil {
				return err
			}
			out[path.Join(path.Clean(dir), f.Name)] = []byte(content)
			return nil
		})
	})
	return out, err
}

// withCommit runs fn on the root tree of sha, fetching once if the commit is
// not in the mirror yet (it may have been pushed since the last fetch).
func (m *Mirrors) withCommit(ctx context.Context, remote Remote, sha string, fn func(*object.Tree) error) error {
	run := func(repo *git.Repository) error {
		tree, err := commitTree(repo, sha)
		if err != nil {
			return err
		}
		return fn(tree)
	}
	err := m.with(ctx, remote, false, run)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		err = m.with(ctx, remote, true, run)
	}
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return &Error{Kind: ErrNotFound, Remote: remote.URL, Rev: sha, Err: errors.New("commit not found")}
	}
	return err
}

// Materialise writes the files of commit sha into dest (which must not exist
// or be empty), straight from the local mirror: no network, no index, no
// .git folder, so runs cannot change the mirror.
func (m *Mirrors) Materialise(ctx context.Context, remote Remote, sha, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	return m.withCommit(ctx, remote, sha, func(tree *object.Tree) error {
		walker := object.NewTreeWalker(tree, true, nil)
		defer walker.Close()
		for {
			name, entry, err := walker.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			target := filepath.Join(dest, filepath.FromSlash(name))
			switch entry.Mode {
			case filemode.Dir:
				if err := os.MkdirAll(target, 0o755); err != nil {
					return err
				}
			case filemode.Submodule:
				// Submodules are not fetched; leave an empty folder as git does.
				if err := os.MkdirAll(target, 0o755); err != nil {
					return err
				}
			default:
				if err := writeBlob(tree, name, entry.Mode, target); err != nil {
					return err
				}
			}
		}
	})
}

func writeBlob(tree *object.Tree, name string, mode filemode.FileMode, target string) error {
	f, err := tree.File(name)
	if err != nil {
		return err
	}
	r, err := f.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	if mode == filemode.Symlink {
		link, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return os.Symlink(string(link), target)
	}
	perm := os.FileMode(0o644)
	if mode == filemode.Executable {
		perm = 0o755
	}
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
