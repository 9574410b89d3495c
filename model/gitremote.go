package model

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/listquery"
)

// GitRemote is a project's Git repository: where changes read their actions.
// Its credentials are sealed at rest and bound to the row's id.
type GitRemote struct {
	ID          string `gorm:"primaryKey"`
	ProjectID   string
	Name        string
	URL         string `gorm:"column:url"`
	Archived    bool
	Disabled    bool
	Credentials `gorm:"embedded"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// GitRemoteInput is what a client may set when creating a remote.
type GitRemoteInput struct {
	Name        string
	URL         string
	Credentials CredentialsInput
}

// gitRemotesQuery scopes git remotes to a project.
func gitRemotesQuery(db *gorm.DB, project *Node) *gorm.DB {
	return db.Model(&GitRemote{}).Where("project_id = ?", project.ID)
}

// GitRemoteFilters are the attributes a git remote list may filter and sort by (attribute -> column).
var GitRemoteFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "name": {Column: "name"}, "url": {Column: "url"},
	"archived": {Column: "archived", Kind: listquery.Bool}, "disabled": {Column: "disabled", Kind: listquery.Bool},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// GitRemoteList is gitRemotesQuery as a list source.
func (s *Store) GitRemoteList(project *Node) Source[GitRemote] {
	return NewSource[GitRemote](s, "id", func(db *gorm.DB) *gorm.DB { return gitRemotesQuery(db, project) }).Guarded(project.Path + "/git_remotes")
}

// eventAttrs describe a remote in the audit trail: never a credential, and
// the URL without userinfo. The event's source is the project, as event
// sources are projects, environments, assets and steps.
func (g *GitRemote) eventAttrs(project *Node) JSONMap {
	return JSONMap{"git_remote_id": g.ID, "name": g.Name, "url": gitops.Redact(g.URL), "project": project.Code}
}

// validateRemoteURL checks a git remote's or template's URL with the
// store's mirrors: file:// and local paths only when they allow local remotes.
func (s *Store) validateRemoteURL(raw string) error {
	const ptr = "url"
	if err := s.Git.ValidateURL(raw); err != nil {
		return steward.Invalid(ptr, "invalid_url", "%s", err.Error())
	}
	// A password inside the URL would be stored and shown in clear text;
	// it belongs in the sealed password attribute.
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return steward.Invalid(ptr, "credentials_in_url", "url must not contain a password; send it as the password attribute")
		}
	}
	return nil
}

func requireProject(project *Node) error {
	if project == nil || project.Kind != KindProject {
		return steward.Errorf(steward.KindNotFound, "git remotes belong to projects")
	}
	return nil
}

// GetGitRemote loads remote id of project; archived remotes are found too.
func (s *Store) GetGitRemote(ctx context.Context, project *Node, id string) (*GitRemote, error) {
	if err := requireProject(project); err != nil {
		return nil, err
	}
	if err := AuthoriseRead(ctx, project.Path+"/git_remotes", "git remote", id); err != nil {
		return nil, err
	}
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("git remote", id)
	}
	var g GitRemote
	err := s.Read(ctx, func(db *gorm.DB) error { return gitRemotesQuery(db, project).Where("id = ?", id).Take(&g).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("git remote", id)
	}
	return &g, err
}

// CreateGitRemote adds a remote to project. The name is unique per project
// (422), the URL must be a transport Steward allows, and an archived project
// accepts no new remotes.
func (s *Store) CreateGitRemote(ctx context.Context, actor *Actor, project *Node, in GitRemoteInput) (*GitRemote, error) {
	if err := actor.Require(authz.Update, project.Path+"/git_remotes"); err != nil {
		return nil, err
	}
	if err := requireProject(project); err != nil {
		return nil, err
	}
	if err := steward.First(validateName(in.Name), s.validateRemoteURL(in.URL)); err != nil {
		return nil, err
	}
	now := s.Now()
	g := &GitRemote{ID: NewID(), ProjectID: project.ID, Name: in.Name, URL: in.URL, CreatedAt: now, UpdatedAt: now}
	if err := s.sealCredentials(g.ID, &g.Credentials, in.Credentials); err != nil {
		return nil, err
	}
	taken := func() error {
		return steward.Invalid("name", "taken", "git remote name %q is already used in project %q", in.Name, project.Code)
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		// Read the project inside the transaction: it may have been archived since it was resolved.
		var p Node
		if err := tx.Select("archived").Where("id = ?", project.ID).Take(&p).Error; err != nil {
			return err
		}
		if p.Archived {
			return &steward.Error{Kind: steward.KindInvalid, Code: "archived_parent",
				Detail: fmt.Sprintf("project %q is archived and accepts no new git remotes", project.Code)}
		}
		var n int64
		if err := gitRemotesQuery(tx, project).Where("name = ?", in.Name).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return taken()
		}
		if err := tx.Create(g).Error; err != nil {
			if IsDuplicate(TranslateError(err)) {
				return taken()
			}
			return err
		}
		return s.Record(tx, actor, "api:git_remotes:create", project.EventSource(), g.eventAttrs(project))
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// SetGitRemoteArchived archives or unarchives a remote. An archived remote
// stays readable but no new run can use it.
func (s *Store) SetGitRemoteArchived(ctx context.Context, actor *Actor, project *Node, g *GitRemote, archived bool) (*GitRemote, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/git_remotes", "node", project.Path+"/git_remotes"); err != nil {
		return nil, err
	}
	typ := "api:git_remotes:unarchive"
	if archived {
		typ = "api:git_remotes:archive"
	}
	return s.updateGitRemote(ctx, actor, project, g, typ, map[string]any{"archived": archived}, nil)
}

// UpdateGitRemoteCredentials replaces, keeps (nil) or clears ("") each
// credential. The event names which ones changed, never their values.
func (s *Store) UpdateGitRemoteCredentials(ctx context.Context, actor *Actor, project *Node, g *GitRemote, in CredentialsInput) (*GitRemote, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/git_remotes", "node", project.Path+"/git_remotes"); err != nil {
		return nil, err
	}
	updates, attrs, err := s.credentialUpdates(g.ID, g.Credentials, in)
	if err != nil {
		return nil, err
	}
	return s.updateGitRemote(ctx, actor, project, g, "api:git_remotes:update", updates, attrs)
}

func (s *Store) updateGitRemote(ctx context.Context, actor *Actor, project *Node, g *GitRemote, typ string, updates map[string]any, extra JSONMap) (*GitRemote, error) {
	updates["updated_at"] = s.Now()
	out := *g
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&GitRemote{}).Where("id = ?", g.ID).Updates(updates).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", g.ID).Take(&out).Error; err != nil {
			return err
		}
		attrs := out.eventAttrs(project)
		for k, v := range extra {
			attrs[k] = v
		}
		return s.Record(tx, actor, typ, project.EventSource(), attrs)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteGitRemote deletes a remote no change used. A used remote must keep
// its row (changes point at it), so only its credentials go, and only once it
// is archived; credentialsRemoved tells the two outcomes apart and the
// returned remote is the kept row (nil when deleted).
func (s *Store) DeleteGitRemote(ctx context.Context, actor *Actor, project *Node, g *GitRemote) (kept *GitRemote, err error) {
	if err := actor.Authorise(authz.Delete, project.Path+"/git_remotes", "node", project.Path+"/git_remotes"); err != nil {
		return nil, err
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		used, err := remoteInUse(tx, g.ID)
		if err != nil {
			return err
		}
		if !used {
			if err := tx.Where("id = ?", g.ID).Delete(&GitRemote{}).Error; err != nil {
				return err
			}
			return s.Record(tx, actor, "api:git_remotes:delete", project.EventSource(), g.eventAttrs(project))
		}
		var cur GitRemote
		if err := tx.Where("id = ?", g.ID).Take(&cur).Error; err != nil {
			return err
		}
		if !cur.Archived {
			return &steward.Error{Kind: steward.KindInvalid, Code: "not_archived",
				Detail: fmt.Sprintf("git remote %q is used by a change: archive it first, then delete removes its credentials", g.Name)}
		}
		cleared := Credentials{}.columns()
		cleared["updated_at"] = s.Now()
		if err := tx.Model(&GitRemote{}).Where("id = ?", g.ID).Updates(cleared).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", g.ID).Take(&cur).Error; err != nil {
			return err
		}
		kept = &cur
		attrs := cur.eventAttrs(project)
		attrs["credentials_removed"] = true
		return s.Record(tx, actor, "api:git_remotes:delete", project.EventSource(), attrs)
	})
	if err != nil {
		return nil, err
	}
	return kept, nil
}

// remoteInUse reports whether any change ran with the remote: such a remote
// is kept on delete (only its credentials go) so the change stays explainable.
func remoteInUse(tx *gorm.DB, id string) (bool, error) {
	var n int64
	err := tx.Table("changes").Where("git_remote_id = ?", id).Limit(1).Count(&n).Error
	return n > 0, err
}

// RemoteForRun finds the project's remote called name and opens its
// credentials for gitops. Unknown and archived (or disabled) remotes are 422s
// pointing at git_remote_name, the attribute a change or schedule names it by.
// Never render or log the returned gitops.Remote.
func (s *Store) RemoteForRun(ctx context.Context, project *Node, name string) (*GitRemote, gitops.Remote, error) {
	const ptr = "git_remote_name"
	if err := requireProject(project); err != nil {
		return nil, gitops.Remote{}, err
	}
	var g GitRemote
	err := s.Read(ctx, func(db *gorm.DB) error { return gitRemotesQuery(db, project).Where("name = ?", name).Take(&g).Error })
	if ModelNotFound(err) {
		return nil, gitops.Remote{}, steward.Invalid(ptr, "unknown_git_remote", "project %q has no git remote named %q", project.Code, name)
	}
	if err != nil {
		return nil, gitops.Remote{}, err
	}
	if g.Archived || g.Disabled {
		state := "archived"
		if !g.Archived {
			state = "disabled"
		}
		return nil, gitops.Remote{}, steward.Invalid(ptr, "git_remote_"+state, "git remote %q of project %q is %s", name, project.Code, state)
	}
	creds, err := s.openCredentials(g.ID, g.Credentials)
	if err != nil {
		return nil, gitops.Remote{}, err
	}
	return &g, gitops.Remote{URL: g.URL, Auth: creds}, nil
}
