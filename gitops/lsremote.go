package gitops

import (
	"context"

	git "github.com/go-git/go-git/v5"
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
