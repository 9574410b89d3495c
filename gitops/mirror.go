package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Remote is a Git remote and how to authenticate to it.
type Remote struct {
	URL  string
	Auth Credentials
}

// Mirrors keeps one bare mirror per remote URL under Dir. go-git is not safe
// for concurrent use of one repository, so every operation on a mirror holds
// that mirror's lock; different remotes proceed in parallel.
//
// Remotes of different projects (and credentials) share the mirror of their
// URL, so every use proves its own credentials against the server before the
// mirror is read: a fetch, or inside the freshness window an authenticated
// ls-remote. A remote that cannot list the repository never reads it here.
type Mirrors struct {
	Dir string
	// Freshness is how long after a fetch a use proves access with an
	// ls-remote and fetches only when the remote's refs differ from the
	// mirror's; after it, every use fetches.
	Freshness    time.Duration
	FetchTimeout time.Duration
	// KnownHostsFile holds the host keys SSH remotes are checked against when
	// the remote's own Credentials carry none.
	KnownHostsFile string
	// AllowLocal accepts file:// and local-path remotes (see ValidateURL).
	AllowLocal bool
	// Private are folders no local remote may point into, beside Dir (the
	// server's data dir: its mirrors, work trees and key).
	Private []string
	// Now is the clock the freshness window is measured on (the store's,
	// when the server builds it; the wall clock when nil).
	Now func() time.Time

	mu      sync.Mutex
	mirrors map[string]*mirror
}

type mirror struct {
	mu        sync.Mutex
	path      string
	repo      *git.Repository
	fetchedAt time.Time
	// synced is when the last sync that succeeded began (monotonic), and
	// syncedBy a digest of the credentials it proved: a use that arrived
	// before that sync began, with the same credentials, is answered by it
	// as if it had listed the remote itself (see with).
	synced   time.Time
	syncedBy [32]byte
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
	if err := m.ValidateURL(remote.URL); err != nil {
		return &Error{Kind: ErrInvalid, Remote: remote.URL, Err: err}
	}
	mr := m.get(remote.URL)
	arrived := time.Now()
	mr.mu.Lock()
	defer mr.mu.Unlock()
	// Uses that queued behind one sync share the next: one that began
	// after this use arrived saw the remote as fresh as this use's own
	// would, and proved the same credentials.
	key := credentialsKey(remote.Auth)
	if refresh || mr.repo == nil || !mr.synced.After(arrived) || mr.syncedBy != key {
		began := time.Now()
		if err := m.sync(ctx, mr, remote, refresh); err != nil {
			return err
		}
		mr.synced, mr.syncedBy = began, key
	}
	return fn(mr.repo)
}

// sync clones the mirror on first use (into a temporary folder renamed into
// place, so a failed clone leaves nothing behind) and fetches when stale.
// Every call talks to the server with remote's credentials (clone, fetch or
// ls-remote), so a failure to authenticate is never hidden by a mirror that
// other credentials filled.
func (m *Mirrors) sync(ctx context.Context, mr *mirror, remote Remote, refresh bool) error {
	ctx, cancel := context.WithTimeout(ctx, m.FetchTimeout)
	defer cancel()
	auth, err := m.auth(ctx, remote)
	if err != nil {
		return err
	}
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
		mr.repo, mr.fetchedAt = repo, m.now()
		return nil
	}
	if !refresh && m.now().Sub(mr.fetchedAt) < m.Freshness {
		refs, err := syncRefs(ctx, remote.URL, auth)
		if err != nil {
			return classify(remote.URL, err)
		}
		if sameRefs(mr.repo, refs) {
			return nil
		}
	}
	err = mr.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", Auth: auth, Force: true, Prune: true, Tags: git.AllTags,
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return classify(remote.URL, err)
	}
	mr.fetchedAt = m.now()
	return nil
}

// credentialsKey is a digest of c, to tell whether two uses prove the same
// credentials without keeping them twice.
func credentialsKey(c Credentials) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(c.User), []byte(c.Password), c.SSHKey, []byte(c.KnownHosts)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (m *Mirrors) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// listRefs is an authenticated ls-remote: it moves no objects.
func listRefs(ctx context.Context, url string, auth transport.AuthMethod, peeling git.PeelingOption) ([]*plumbing.Reference, error) {
	r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	return r.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: peeling})
}

// sameRefs reports whether the mirror's branches and tags are exactly the
// remote's (refs as an ls-remote without peeling lists them).
func sameRefs(repo *git.Repository, remote []*plumbing.Reference) bool {
	want := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, ref := range remote {
		if ref.Type() == plumbing.HashReference && (ref.Name().IsBranch() || ref.Name().IsTag()) {
			want[ref.Name()] = ref.Hash()
		}
	}
	iter, err := repo.Storer.IterReferences()
	if err != nil {
		return false
	}
	defer iter.Close()
	same, seen := true, 0
	_ = iter.ForEach(func(ref *plumbing.Reference) error {
		if !ref.Name().IsBranch() && !ref.Name().IsTag() {
			return nil
		}
		if h, ok := want[ref.Name()]; !ok || ref.Type() != plumbing.HashReference || h != ref.Hash() {
			same = false
			return storer.ErrStop
		}
		seen++
		return nil
	})
	return same && seen == len(want)
}

// auth builds remote's auth method, falling back to the server's known_hosts
// file. When no method can be built (an SSH remote without a key or without
// known_hosts) nothing was sent yet: a server that cannot be reached is
// reported as unreachable, and only a reachable one as an auth error that
// says what is missing.
func (m *Mirrors) auth(ctx context.Context, remote Remote) (transport.AuthMethod, error) {
	if remote.Auth.KnownHosts == "" && m.KnownHostsFile != "" && isSSH(remote.URL) {
		if b, err := os.ReadFile(m.KnownHostsFile); err == nil {
			remote.Auth.KnownHosts = string(b)
		}
	}
	method, err := remote.Auth.method(remote.URL)
	if err == nil {
		return method, nil
	}
	if ep, perr := transport.NewEndpoint(remote.URL); perr == nil && ep.Host != "" {
		port := ep.Port
		if port == 0 {
			port = 22
		}
		conn, derr := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(ep.Host, strconv.Itoa(port)))
		if derr != nil {
			return nil, classify(remote.URL, derr)
		}
		conn.Close()
	}
	return nil, &Error{Kind: ErrAuth, Remote: remote.URL, Err: setupError{err}}
}

// setupError is an auth method that could not be built from the remote's
// credentials; its message is ours (never a credential) and is shown.
type setupError struct{ error }

func (e setupError) Unwrap() error { return e.error }

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
		var setup setupError
		if errors.As(e.Err, &setup) {
			return msg + ": authentication failed: " + setup.Error()
		}
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
