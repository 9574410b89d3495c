package gitops

import (
	"context"
	"errors"
	"net/url"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// LsRemote lists the remote's branches and tags (name -> commit SHA, annotated
// tags peeled) without fetching any objects: how schedules notice new commits cheaply.
func (m *Mirrors) LsRemote(ctx context.Context, remote Remote) (map[string]string, error) {
	if err := m.ValidateURL(remote.URL); err != nil {
		return nil, &Error{Kind: ErrInvalid, Remote: remote.URL, Err: err}
	}
	auth, err := m.auth(ctx, remote)
	if err != nil {
		return nil, err
	}
	refs, err := listRefs(ctx, remote.URL, auth, git.AppendPeeled)
	if err != nil {
		return nil, classify(remote.URL, err)
	}
	out := make(map[string]string, len(refs))
	for _, ref := range refs {
		name := ref.Name().String()
		if ref.Hash().IsZero() {
			continue
		}
		// With AppendPeeled an annotated tag appears twice: "refs/tags/v1" (the
		// tag object) and "refs/tags/v1^{}" (its commit); keep the commit.
		if len(name) > 3 && name[len(name)-3:] == "^{}" {
			out[name[:len(name)-3]] = ref.Hash().String()
			continue
		}
		if _, peeled := out[name]; !peeled {
			out[name] = ref.Hash().String()
		}
	}
	return out, nil
}

// syncRefs is the ls-remote a mirror's use proves access with (refs not
// peeled). A local remote's refs are read from its repository in this
// process, as the upload-pack go-git would otherwise start for it (a fork
// and exec of git per use) advertises them: there are no credentials to
// prove, only that the server can read the repository.
func syncRefs(ctx context.Context, raw string, auth transport.AuthMethod) ([]*plumbing.Reference, error) {
	path, ok := localPath(raw)
	if !ok {
		return listRefs(ctx, raw, auth, git.IgnorePeeled)
	}
	repo, err := git.PlainOpen(path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, transport.ErrRepositoryNotFound
	}
	if err != nil {
		return nil, err
	}
	iter, err := repo.References()
	if err != nil {
		return nil, err
	}
	var refs []*plumbing.Reference
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && (ref.Name().IsBranch() || ref.Name().IsTag()) {
			refs = append(refs, ref)
		}
		return nil
	})
	return refs, err
}

// localPath is the folder a file:// or absolute-path remote names (which
// ValidateURL has allowed).
func localPath(raw string) (string, bool) {
	if strings.HasPrefix(raw, "/") {
		return raw, true
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return "", false
	}
	return u.Path, true
}
