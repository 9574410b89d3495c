package model

import (
	"context"
	"database/sql/driver"
	"fmt"
	"regexp"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Template version states: written as initializing, then resolved in the
// background to ready (commit known) or broken (reason stored).
const (
	VersionInitializing = "initializing"
	VersionReady        = "ready"
	VersionBroken       = "broken"
)

// TemplateVersion pins a template to a Git rev; CommitSHA, Actions and
// HasMintmodel are known once the resolver has made it ready.
type TemplateVersion struct {
	ID           string `gorm:"primaryKey"`
	TemplateID   string
	Version      string
	Description  string
	State        string
	StateReason  *string
	CreatedBy    string
	Archived     bool
	HasMintmodel *bool
	GitRev       string
	CommitSHA    *string `gorm:"column:commit_sha"`
	Actions      ActionList
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Action is one entry of a template version's actions.yaml, as listed on the version.
type Action struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// ActionList is a JSON array of actions, a JSON column like JSONList.
type ActionList []Action

// Value stores the list as JSON text; nil becomes [].
func (l ActionList) Value() (driver.Value, error) { return JSONValue(l == nil, "[]", []Action(l)) }

// Scan reads JSON text or bytes.
func (l *ActionList) Scan(src any) error { return ScanJSON("ActionList", src, l, ActionList{}) }

// TemplateVersionInput is a PUT of a version: GitRev is required, nil
// Description and Archived leave the stored values as they are.
type TemplateVersionInput struct {
	Description *string
	GitRev      string
	Archived    *bool
}

// versionPattern keeps version names usable as one URL path segment.
var versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// templateVersionsQuery scopes versions to a template.
func templateVersionsQuery(db *gorm.DB, t *Template) *gorm.DB {
	return db.Model(&TemplateVersion{}).Where("template_id = ?", t.ID)
}

// TemplateVersionFilters are the attributes a template version list may filter and sort by (attribute -> column).
var TemplateVersionFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "version": {Column: "version"}, "description": {Column: "description"},
	"state": {Column: "state"}, "created_by": {Column: "created_by"}, "archived": {Column: "archived", Kind: listquery.Bool},
	"has_mintmodel": {Column: "has_mintmodel", Kind: listquery.Bool}, "git_rev": {Column: "git_rev"},
	"commit_sha": {Column: "commit_sha"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// TemplateVersionList is templateVersionsQuery as a list source.
func (s *Store) TemplateVersionList(t *Template) Source[TemplateVersion] {
	return NewSource[TemplateVersion](s, "id", func(db *gorm.DB) *gorm.DB { return templateVersionsQuery(db, t) })
}

// TakeVersion reads template version id into tv and its template into tpl.
func TakeVersion(db *gorm.DB, id string, tv *TemplateVersion, tpl *Template) error {
	if err := db.Where("id = ?", id).Take(tv).Error; err != nil {
		return err
	}
	return db.Where("id = ?", tv.TemplateID).Take(tpl).Error
}

// GetTemplateVersion loads version of t by name; 404 when missing.
func (s *Store) GetTemplateVersion(ctx context.Context, t *Template, version string) (*TemplateVersion, error) {
	if !versionPattern.MatchString(version) {
		return nil, steward.NotFound("template version", version)
	}
	var v TemplateVersion
	err := s.Read(ctx, func(db *gorm.DB) error {
		return templateVersionsQuery(db, t).Where("version = ?", version).Take(&v).Error
	})
	if ModelNotFound(err) {
		return nil, steward.NotFound("template version", version)
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Version events are sourced on the project: the reference's event source
// is a project, environment or step; the version is named in the attributes.
func (v *TemplateVersion) eventAttrs(t *Template) JSONMap {
	return JSONMap{"template": t.Code, "version": v.Version, "template_version_id": v.ID, "git_rev": v.GitRev, "state": v.State}
}

// versionInUse reports whether any asset uses version id.
func versionInUse(tx *gorm.DB, id string) (bool, error) {
	var n int64
	err := tx.Model(&Node{}).Where("template_version_id = ?", id).Count(&n).Error
	return n > 0, err
}

// PutTemplateVersion creates version of t, or updates it. Writing a rev puts
// the version back to initializing for the resolver; a version an asset uses
// keeps its commit, so pointing it at another rev is a 422. created tells a
// new version from an updated one.
func (s *Store) PutTemplateVersion(ctx context.Context, actor *Actor, project *Node, t *Template, version string, in TemplateVersionInput) (v *TemplateVersion, created bool, err error) {
	if err := actor.Authorise(authz.Update, project.Path+"/templates", "node", project.Path+"/templates"); err != nil {
		return nil, false, err
	}
	if !versionPattern.MatchString(version) {
		return nil, false, &steward.Error{Kind: steward.KindInvalid, Code: "invalid_version",
			Detail: fmt.Sprintf("version %q must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (at most 100)", version)}
	}
	if err := gitops.ValidateRev(in.GitRev); err != nil {
		return nil, false, steward.Invalid("git_rev", "invalid_git_rev", "%s", err.Error())
	}
	if err := validateDescription(in.Description); err != nil {
		return nil, false, err
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		var cur Template
		if err := tx.Where("id = ?", t.ID).Take(&cur).Error; err != nil {
			return err
		}
		if cur.Archived {
			return &steward.Error{Kind: steward.KindInvalid, Code: "archived_template",
				Detail: fmt.Sprintf("template %q is archived and takes no new or changed versions", t.Code)}
		}
		now := s.Now()
		var existing TemplateVersion
		err := templateVersionsQuery(tx, t).Where("version = ?", version).Take(&existing).Error
		if ModelNotFound(TranslateError(err)) {
			if in.Archived != nil && *in.Archived {
				return steward.Invalid("archived", "archived_on_create", "a new template version cannot be created archived")
			}
			desc := ""
			if in.Description != nil {
				desc = *in.Description
			}
			v = &TemplateVersion{ID: NewID(), TemplateID: t.ID, Version: version, Description: desc, State: VersionInitializing,
				CreatedBy: actor.Name(), GitRev: in.GitRev, Actions: ActionList{}, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(v).Error; err != nil {
				return err
			}
			created = true
			return s.Record(tx, actor, "api:template_versions:create", project.EventSource(), v.eventAttrs(t))
		}
		if err != nil {
			return err
		}
		used, err := versionInUse(tx, existing.ID)
		if err != nil {
			return err
		}
		if used && in.GitRev != existing.GitRev {
			return steward.Invalid("git_rev", "version_in_use",
				"template %s version %s is used by assets and stays at git_rev %q; create a new version for %q",
				t.Code, version, existing.GitRev, in.GitRev)
		}
		updates := map[string]any{"updated_at": now}
		if in.Description != nil {
			updates["description"] = *in.Description
		}
		if in.Archived != nil {
			updates["archived"] = *in.Archived
		}
		// An unused version is resolved again: a branch may have moved.
		if !used {
			updates["git_rev"], updates["state"], updates["state_reason"] = in.GitRev, VersionInitializing, nil
			updates["commit_sha"], updates["has_mintmodel"], updates["actions"] = nil, nil, ActionList{}
		}
		if err := tx.Model(&TemplateVersion{}).Where("id = ?", existing.ID).Updates(updates).Error; err != nil {
			return err
		}
		v = &TemplateVersion{}
		if err := tx.Where("id = ?", existing.ID).Take(v).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:template_versions:update", project.EventSource(), v.eventAttrs(t))
	})
	if err != nil {
		return nil, false, err
	}
	if v.State == VersionInitializing {
		s.wakeTemplateResolver()
	}
	return v, created, nil
}
