package model

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Template is a project's Git repository of asset automation: its versions
// pin revs of it, and assets name a template and one of its versions.
type Template struct {
	ID          string `gorm:"primaryKey"`
	ProjectID   string
	Code        string
	Name        string
	Description *string
	URL         string `gorm:"column:url"`
	Archived    bool
	Disabled    bool
	Credentials `gorm:"embedded"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AssetTemplate returns the asset's template, its version and the template's
// remote with opened credentials (never render Remote.Auth), or all zero
// values when the asset names no template. The version is ready: its
// CommitSHA is set. A version not (or no longer) ready is a 422.
func (s *Store) AssetTemplate(ctx context.Context, asset *Node) (*Template, *TemplateVersion, gitops.Remote, error) {
	var tpl Template
	var tv TemplateVersion
	var found bool
	err := s.Read(ctx, func(db *gorm.DB) error {
		id, err := assetVersionID(db, asset.ID)
		if err != nil || id == nil {
			return err
		}
		found = true
		return TakeVersion(db, *id, &tv, &tpl)
	})
	if err != nil || !found {
		return nil, nil, gitops.Remote{}, err
	}
	if tv.State != VersionReady || tv.CommitSHA == nil {
		return nil, nil, gitops.Remote{}, &steward.Error{Kind: steward.KindInvalid, Code: "template_version_not_ready",
			Detail: fmt.Sprintf("template %s version %s is %s, not ready", tpl.Code, tv.Version, tv.State)}
	}
	remote, err := s.TemplateRemote(&tpl)
	if err != nil {
		return nil, nil, gitops.Remote{}, err
	}
	return &tpl, &tv, remote, nil
}

// assetVersionID reads nodes.template_version_id (nil: no template).
func assetVersionID(db *gorm.DB, assetID string) (*string, error) {
	var ids []sql.NullString
	if err := db.Model(&Node{}).Where("id = ?", assetID).Pluck("template_version_id", &ids).Error; err != nil {
		return nil, err
	}
	if len(ids) == 0 || !ids[0].Valid {
		return nil, nil
	}
	return &ids[0].String, nil
}

// TemplateRemote is the template's remote with its credentials opened.
func (s *Store) TemplateRemote(t *Template) (gitops.Remote, error) {
	auth, err := s.openCredentials(t.ID, t.Credentials)
	if err != nil {
		return gitops.Remote{}, err
	}
	return gitops.Remote{URL: t.URL, Auth: auth}, nil
}

// TemplateInput is what a client sends to create a template.
type TemplateInput struct {
	Code        string
	Name        string
	Description *string
	URL         string
	Credentials CredentialsInput
}

// templatesQuery scopes templates to a project.
func templatesQuery(db *gorm.DB, project *Node) *gorm.DB {
	return db.Model(&Template{}).Where("project_id = ?", project.ID)
}

// TemplateFilters are the attributes a template list may filter and sort by (attribute -> column).
var TemplateFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "code": {Column: "code"}, "name": {Column: "name"},
	"description": {Column: "description"}, "url": {Column: "url"},
	"archived": {Column: "archived", Kind: listquery.Bool}, "disabled": {Column: "disabled", Kind: listquery.Bool},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// TemplateList is templatesQuery as a list source.
func (s *Store) TemplateList(project *Node) Source[Template] {
	return NewSource[Template](s, "id", func(db *gorm.DB) *gorm.DB { return templatesQuery(db, project) }).Guarded(project.Path + "/templates")
}

// TemplateVersionIDs lists each template's version ids, keyed by template id.
func (s *Store) TemplateVersionIDs(ctx context.Context, templateIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(templateIDs) == 0 {
		return out, nil
	}
	var rows []TemplateVersion
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("id", "template_id").Where("template_id IN ?", templateIDs).Order("id").Find(&rows).Error
	})
	for _, v := range rows {
		out[v.TemplateID] = append(out[v.TemplateID], v.ID)
	}
	return out, err
}

// GetTemplate loads the project's template by code; 404 when missing.
func (s *Store) GetTemplate(ctx context.Context, project *Node, code string) (*Template, error) {
	if project.Kind != KindProject || ValidateCode(code) != nil || !CanRead(ctx, project.Path+"/templates") {
		return nil, steward.NotFound("template", code)
	}
	var t Template
	err := s.Read(ctx, func(db *gorm.DB) error { return templatesQuery(db, project).Where("code = ?", code).Take(&t).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("template", code)
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateTemplate adds a template to project with its credentials sealed.
// Codes are unique per project; an archived project takes no new templates.
func (s *Store) CreateTemplate(ctx context.Context, actor *Actor, project *Node, in TemplateInput) (*Template, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/templates", "node", project.Path+"/templates"); err != nil {
		return nil, err
	}
	if project.Kind != KindProject {
		return nil, steward.NotFound("project", project.Path)
	}
	if err := steward.First(ValidateCode(in.Code), validateName(in.Name), validateDescription(in.Description), s.validateRemoteURL(in.URL)); err != nil {
		return nil, err
	}
	now := s.Now()
	t := &Template{ID: NewID(), ProjectID: project.ID, Code: in.Code, Name: in.Name, Description: in.Description,
		URL: in.URL, CreatedAt: now, UpdatedAt: now}
	if err := s.sealCredentials(t.ID, &t.Credentials, in.Credentials); err != nil {
		return nil, err
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var p Node
		if err := tx.Where("id = ?", project.ID).Take(&p).Error; err != nil {
			return err
		}
		if p.Archived {
			return &steward.Error{Kind: steward.KindInvalid, Code: "archived_parent",
				Detail: fmt.Sprintf("project %q is archived and accepts no new templates", p.Code)}
		}
		taken := steward.Invalid("code", "taken", "template code %q is already used in this project", in.Code)
		var n int64
		if err := templatesQuery(tx, project).Where("code = ?", in.Code).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return taken
		}
		if err := tx.Create(t).Error; err != nil {
			if IsDuplicate(TranslateError(err)) {
				return taken
			}
			return err
		}
		return s.Record(tx, actor, "api:templates:create", project.EventSource(),
			JSONMap{"template": t.Code, "template_id": t.ID, "url": gitops.Redact(t.URL)})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SetTemplateArchived archives or unarchives t. An archived template keeps
// its versions and assets but takes no new versions or assignments.
func (s *Store) SetTemplateArchived(ctx context.Context, actor *Actor, project *Node, t *Template, archived bool) (*Template, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/templates", "node", project.Path+"/templates"); err != nil {
		return nil, err
	}
	typ := "api:templates:unarchive"
	if archived {
		typ = "api:templates:archive"
	}
	return s.updateTemplate(ctx, actor, project, t, typ, map[string]any{"archived": archived}, nil)
}

// UpdateTemplateCredentials replaces, keeps (nil) or clears ("") each
// credential. The event names which ones changed, never their values.
func (s *Store) UpdateTemplateCredentials(ctx context.Context, actor *Actor, project *Node, t *Template, in CredentialsInput) (*Template, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/templates", "node", project.Path+"/templates"); err != nil {
		return nil, err
	}
	updates, attrs, err := s.credentialUpdates(t.ID, t.Credentials, in)
	if err != nil {
		return nil, err
	}
	return s.updateTemplate(ctx, actor, project, t, "api:templates:update", updates, attrs)
}

func (s *Store) updateTemplate(ctx context.Context, actor *Actor, project *Node, t *Template, event string, updates map[string]any, extra JSONMap) (*Template, error) {
	updates["updated_at"] = s.Now()
	ev := JSONMap{"template": t.Code, "template_id": t.ID, "url": gitops.Redact(t.URL)}
	for k, v := range extra {
		ev[k] = v
	}
	var out Template
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&Template{}).Where("id = ?", t.ID).Updates(updates).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", t.ID).Take(&out).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, event, project.EventSource(), ev)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
