package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Remote is a Git remote and how to authenticate to it.
type Remote struct {
	URL  string
	Auth Credentials
}

// Mirrors keeps one bare mirror per remote URL under Dir. go-git is not safe
// for concurrent use of one repository, so every operation on a mirror holds
// that mirror's lock; different remotes proceed in parallel.
type Mirrors struct {
	Dir          string
	Freshness    time.Duration // a fetch younger than this is reused
	FetchTimeout time.Duration
	// KnownHostsFile holds the host keys SSH remotes are checked against when
	// the remote's own Credentials carry none.
	KnownHostsFile string

	mu      sync.Mutex
	mirrors map[string]*mirror
}

type mirror struct {
	mu        sync.Mutex
	path      string
	repo      *git.Repository
	fetchedAt time.Time
}

// NewMirrors keeps mirrors under dir with a short freshness window.
func NewMirrors(dir string) *Mirrors {
	return &Mirrors{Dir: dir, Freshness: 5 * time.Second, FetchTimeout: 2 * time.Minute, mirrors: map[string]*mirror{}}
}

func (m *Mirrors) get(url string) *mirror {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mirrors == nil {
		m.mirrors = map[string]*mirror{}
	}
	mr, ok := m.mirrors[url]
	if !ok {
		sum := sha256.Sum256([]byte(url))
		mr = &mirror{path: filepath.Join(m.Dir, hex.EncodeToString(sum[:12])+".git")}
		m.mirrors[url] = mr
	}
	return mr
}

// with runs fn on the up-to-date mirror of remote, holding its lock. refresh
// forces a fetch even inside the freshness window.
func (m *Mirrors) with(ctx context.Context, remote Remote, refresh bool, fn func(*git.Repository) error) error {
	if err := ValidateURL(remote.URL); err != nil {
		return &Error{Kind: ErrInvalid, Remote: remote.URL, Err: err}
	}
	mr := m.get(remote.URL)
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if err := m.sync(ctx, mr, remote, refresh); err != nil {
		return err
	}
	return fn(mr.repo)
}

// sync clones the mirror on first use (into a temporary folder renamed into
// place, so a failed clone leaves nothing behind) and fetches when stale.
func (m *Mirrors) sync(ctx context.Context, mr *mirror, remote Remote, refresh bool) error {
	auth, err := m.auth(remote)
	if err != nil {
		return &Error{Kind: ErrAuth, Remote: remote.URL, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, m.FetchTimeout)
	defer cancel()
	if mr.repo == nil {
		if repo, err := git.PlainOpen(mr.path); err == nil {
			mr.repo = repo
		}
	}
	if mr.repo == nil {
		if err := os.MkdirAll(m.Dir, 0o700); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp(m.Dir, ".clone-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if _, err := git.PlainCloneContext(ctx, tmp, true, &git.CloneOptions{URL: remote.URL, Auth: auth, Mirror: true, Tags: git.AllTags}); err != nil {
			return classify(remote.URL, err)
		}
		if err := os.Rename(tmp, mr.path); err != nil {
			return err
		}
		repo, err := git.PlainOpen(mr.path)
		if err != nil {
			return err
		}
		mr.repo, mr.fetchedAt = repo, time.Now()
		return nil
	}
	if !refresh && time.Since(mr.fetchedAt) < m.Freshness {
		return nil
	}
	err = mr.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", Auth: auth, Force: true, Prune: true, Tags: git.AllTags,
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return classify(remote.URL, err)
	}
	mr.fetchedAt = time.Now()
	return nil
}

// auth builds remote's auth method, falling back to the server's known_hosts file.
func (m *Mirrors) auth(remote Remote) (transport.AuthMethod, error) {
	if remote.Auth.KnownHosts == "" && m.KnownHostsFile != "" && isSSH(remote.URL) {
		if b, err := os.ReadFile(m.KnownHostsFile); err == nil {
			remote.Auth.KnownHosts = string(b)
		}
	}
	return remote.Auth.method(remote.URL)
}

// classify turns transport failures into errors that name the remote, never its credentials.
func classify(url string, err error) error {
	kind := ErrUnreachable
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		kind = ErrAuth
	case errors.Is(err, transport.ErrRepositoryNotFound):
		kind = ErrNotFound
	case errors.Is(err, context.DeadlineExceeded):
		kind = ErrTimeout
	}
	return &Error{Kind: kind, Remote: url, Err: err}
}

// ErrorKind classifies gitops failures for the API layer.
type ErrorKind string

const (
	ErrInvalid     ErrorKind = "invalid"     // bad URL, rev or path
	ErrAuth        ErrorKind = "auth"        // credentials refused or unusable
	ErrUnreachable ErrorKind = "unreachable" // network or protocol failure
	ErrTimeout     ErrorKind = "timeout"     // clone/fetch took too long
	ErrNotFound    ErrorKind = "not_found"   // repository, rev or file missing
)

// Error is a gitops failure; its message names the remote with userinfo stripped.
type Error struct {
	Kind   ErrorKind
	Remote string
	Rev    string
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("git remote %s", Redact(e.Remote))
	if e.Rev != "" {
		msg += fmt.Sprintf(", rev %q", e.Rev)
	}
	switch e.Kind {
	case ErrAuth:
		return msg + ": authentication failed"
	case ErrTimeout:
		return msg + ": timed out"
	case ErrUnreachable:
		return msg + ": unreachable: " + scrub(e.Err, e.Remote)
	}
	if e.Err != nil {
		return msg + ": " + scrub(e.Err, e.Remote)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }
