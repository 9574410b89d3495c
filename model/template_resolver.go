package model

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/converge"
)

// Template versions are written as initializing and resolved here, outside
// the request: resolving a rev may clone a remote, which takes longer than a
// request should. Every replica polls, so a version written on one replica
// (or left initializing by a crash) is resolved by whichever looks first; the
// result is written only if the version still waits at the same rev, so two
// replicas resolving the same version agree and a re-pointed one is left for
// the next pass.

func (s *Store) wakeTemplateResolver() { s.templates.Notify() }

// DefaultResolveInterval is how often the resolver looks for versions
// written on other replicas.
const DefaultResolveInterval = 5 * time.Second

// TemplateResolver is the service that resolves pending template versions:
// at start (versions a crash left initializing), whenever a version is
// written on this replica, and every Interval (versions written elsewhere).
type TemplateResolver struct {
	Store    *Store
	Interval time.Duration // DefaultResolveInterval when zero

	stop context.CancelFunc
	done chan struct{}
}

// Start runs the resolver until Stop or until ctx ends.
func (r *TemplateResolver) Start(ctx context.Context) error {
	if r.Store == nil {
		return errors.New("template resolver: a Store is required")
	}
	if r.Interval <= 0 {
		r.Interval = DefaultResolveInterval
	}
	ctx, r.stop = context.WithCancel(ctx)
	r.done = make(chan struct{})
	// Subscribed before the first pass: a version written meanwhile wakes it.
	wake, unsubscribe := r.Store.TemplateWrites().Subscribe()
	go func() {
		defer close(r.done)
		defer unsubscribe()
		t := time.NewTicker(r.Interval)
		defer t.Stop()
		for {
			if err := r.Store.ResolvePendingTemplateVersions(ctx); err != nil && ctx.Err() == nil {
				r.Store.Log.Error("resolving template versions failed; retrying", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop ends the resolver and waits for its pass in progress.
func (r *TemplateResolver) Stop() {
	if r.stop != nil {
		r.stop()
		<-r.done
	}
}

// resolveTimeout bounds one version's resolution (clone, fetch and reads).
const resolveTimeout = 5 * time.Minute

// ResolvePendingTemplateVersions resolves every initializing version, oldest
// write first, and returns when none is left (tests call it instead of
// waiting for the background resolver). Git and file problems make a version
// broken; only database failures and cancellation are returned.
func (s *Store) ResolvePendingTemplateVersions(ctx context.Context) error {
	// Each write of a version is tried once per call, so a version whose
	// result was dropped cannot keep this loop going.
	seen := map[string]bool{}
	for {
		var batch []TemplateVersion
		if err := s.Read(ctx, func(db *gorm.DB) error {
			return db.Where("state = ?", VersionInitializing).Order("updated_at, id").Limit(50).Find(&batch).Error
		}); err != nil {
			return err
		}
		progressed := false
		for i := range batch {
			v := &batch[i]
			key := v.ID + "@" + v.UpdatedAt.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			progressed = true
			if err := s.resolveVersion(ctx, v); err != nil {
				return err
			}
		}
		if !progressed {
			return nil
		}
	}
}

// resolution is what resolving a version found.
type resolution struct {
	sha          string
	actions      ActionList
	hasMintmodel bool
	reason       string // non-empty: the version is broken
}

func (s *Store) resolveVersion(ctx context.Context, v *TemplateVersion) error {
	var t Template
	if err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ?", v.TemplateID).Take(&t).Error }); err != nil {
		return err
	}
	var project Node
	if err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ?", t.ProjectID).Take(&project).Error }); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	res, err := s.resolveRev(rctx, &t, v)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: leave it initializing for the next start
	}
	if err != nil {
		return err
	}
	return s.writeResolution(ctx, &project, &t, v, res)
}

// resolveRev resolves v's rev and reads what the version offers at that
// commit. Problems with the remote, the rev or the files are a broken
// version (res.reason); other errors are returned.
func (s *Store) resolveRev(ctx context.Context, t *Template, v *TemplateVersion) (*resolution, error) {
	broken := func(format string, args ...any) (*resolution, error) {
		return &resolution{reason: fmt.Sprintf(format, args...)}, nil
	}
	if s.Git == nil {
		return nil, errors.New("template resolver: no git mirrors configured")
	}
	remote, err := s.TemplateRemote(t)
	if err != nil {
		if e := steward.AsError(err); e.Kind == steward.KindInvalid {
			return broken("%s", e.Detail)
		}
		return nil, err
	}
	// Fresh: a version written just after a push must pin the pushed commit.
	sha, err := s.Git.ResolveFresh(ctx, remote, v.GitRev)
	if err != nil {
		return gitProblem(err, broken)
	}
	res := &resolution{sha: sha}
	file := path.Join(t.Code, "actions.yaml")
	data, err := s.Git.ReadFile(ctx, remote, sha, file)
	if errors.Is(err, gitops.ErrFileNotFound) {
		file = "actions.yaml"
		data, err = s.Git.ReadFile(ctx, remote, sha, file)
	}
	if errors.Is(err, gitops.ErrFileNotFound) {
		return broken("commit %s of git_rev %q has neither %s/actions.yaml nor actions.yaml", sha, v.GitRev, t.Code)
	}
	if err != nil {
		return gitProblem(err, broken)
	}
	af, err := ParseActionsFile(file, data)
	if err != nil {
		return broken("commit %s: %s", sha, err.Error())
	}
	res.actions = af.List()
	_, err = s.Git.ReadFile(ctx, remote, sha, converge.MintModelPath(t.Code))
	switch {
	case err == nil:
		res.hasMintmodel = true
	case errors.Is(err, gitops.ErrFileNotFound):
	default:
		return gitProblem(err, broken)
	}
	return res, nil
}

// gitProblem makes a gitops failure a broken version; its message names the
// remote (without userinfo) and the rev, never a credential.
func gitProblem(err error, broken func(string, ...any) (*resolution, error)) (*resolution, error) {
	var ge *gitops.Error
	if errors.As(err, &ge) {
		return broken("%s", ge.Error())
	}
	return nil, err
}

// writeResolution stores res on v unless v was re-pointed since it was read,
// and records api:template_versions:ready or :broken.
func (s *Store) writeResolution(ctx context.Context, project *Node, t *Template, v *TemplateVersion, res *resolution) error {
	now := s.Now()
	updates := map[string]any{"updated_at": now}
	event := "api:template_versions:ready"
	if res.reason != "" {
		event = "api:template_versions:broken"
		updates["state"], updates["state_reason"] = VersionBroken, res.reason
	} else {
		updates["state"], updates["state_reason"], updates["commit_sha"] = VersionReady, nil, res.sha
		updates["actions"], updates["has_mintmodel"] = res.actions, res.hasMintmodel
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&TemplateVersion{}).Where("id = ? AND state = ? AND git_rev = ?",
			v.ID, VersionInitializing, v.GitRev).Updates(updates)
		if q.Error != nil || q.RowsAffected == 0 {
			return q.Error
		}
		attrs := v.eventAttrs(t)
		if res.reason != "" {
			attrs["state"], attrs["reason"] = VersionBroken, res.reason
			s.Log.Warn("template version is broken", "template", t.Code, "version", v.Version, "reason", res.reason)
		} else {
			attrs["state"], attrs["commit_sha"] = VersionReady, res.sha
		}
		return s.Record(tx, SystemActor, event, project.EventSource(), attrs)
	})
}
