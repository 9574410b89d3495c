package model

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// TemplateVersionHistory is one period during which an asset used a template
// version; the open period (ActiveTo nil) is the current one.
type TemplateVersionHistory struct {
	ID                string `gorm:"primaryKey"`
	AssetID           string
	TemplateVersionID string
	ActiveFrom        time.Time
	ActiveTo          *time.Time
}

// TableName keeps GORM from pluralising the table name.
func (TemplateVersionHistory) TableName() string { return "template_version_history" }

// versionHistoryQuery scopes history rows to an asset.
func versionHistoryQuery(db *gorm.DB, asset *Node) *gorm.DB {
	return db.Model(&TemplateVersionHistory{}).Where("asset_id = ?", asset.ID)
}

// TemplateVersionHistoryFilters are the attributes an asset's version history list may filter and sort by (attribute -> column).
var TemplateVersionHistoryFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "template_version_id": {Column: "template_version_id", Kind: listquery.UUID},
	"active_from": {Column: "active_from", Kind: listquery.Time}, "active_to": {Column: "active_to", Kind: listquery.Time},
}

// VersionHistoryList is versionHistoryQuery as a list source.
func (s *Store) VersionHistoryList(asset *Node) Source[TemplateVersionHistory] {
	return NewSource[TemplateVersionHistory](s, "id", func(db *gorm.DB) *gorm.DB { return versionHistoryQuery(db, asset) })
}

// GetVersionHistory loads history row id of asset; 404 when missing.
func (s *Store) GetVersionHistory(ctx context.Context, asset *Node, id string) (*TemplateVersionHistory, error) {
	id, ok := steward.ParseID(id)
	if asset.Kind != KindAsset || !ok {
		return nil, steward.NotFound("template version history", id)
	}
	var h TemplateVersionHistory
	err := s.Read(ctx, func(db *gorm.DB) error { return versionHistoryQuery(db, asset).Where("id = ?", id).Take(&h).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("template version history", id)
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// VersionRef is a template version with its template: what links to a version need.
type VersionRef struct {
	Template *Template
	Version  *TemplateVersion
}

// VersionRefs loads versions by id with their templates, keyed by version id.
func (s *Store) VersionRefs(ctx context.Context, versionIDs []string) (map[string]VersionRef, error) {
	out := map[string]VersionRef{}
	if len(versionIDs) == 0 {
		return out, nil
	}
	var versions []TemplateVersion
	var templates []Template
	err := s.Read(ctx, func(db *gorm.DB) error {
		if err := db.Where("id IN ?", versionIDs).Find(&versions).Error; err != nil {
			return err
		}
		ids := make([]string, len(versions))
		for i, v := range versions {
			ids[i] = v.TemplateID
		}
		return db.Where("id IN ?", ids).Find(&templates).Error
	})
	if err != nil {
		return nil, err
	}
	byID := map[string]*Template{}
	for i := range templates {
		byID[templates[i].ID] = &templates[i]
	}
	for i := range versions {
		out[versions[i].ID] = VersionRef{Template: byID[versions[i].TemplateID], Version: &versions[i]}
	}
	return out, nil
}

// AssetTemplates returns the template version of each given asset that has
// one, keyed by asset id (assets without a template are absent).
func (s *Store) AssetTemplates(ctx context.Context, assetIDs []string) (map[string]VersionRef, error) {
	out := map[string]VersionRef{}
	if len(assetIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ID                string
		TemplateVersionID string
	}
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Node{}).Select("id", "template_version_id").
			Where("id IN ? AND template_version_id IS NOT NULL", assetIDs).Scan(&rows).Error
	}); err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.TemplateVersionID
	}
	refs, err := s.VersionRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if ref, ok := refs[r.TemplateVersionID]; ok && ref.Template != nil {
			out[r.ID] = ref
		}
	}
	return out, nil
}

// moveAsset points asset at version v of t: it closes the asset's open
// history period and opens one for v. Moving to the current version is a no-op.
func (s *Store) moveAsset(tx *gorm.DB, asset *Node, t *Template, v *TemplateVersion, now time.Time) error {
	cur, err := assetVersionID(tx, asset.ID)
	if err != nil {
		return err
	}
	if cur != nil && *cur == v.ID {
		return nil
	}
	if err := tx.Model(&Node{}).Where("id = ?", asset.ID).UpdateColumns(map[string]any{
		"template_version_id": v.ID, "template_name": t.Code, "template_version": v.Version, "updated_at": now,
	}).Error; err != nil {
		return err
	}
	asset.TemplateName, asset.TemplateVersion, asset.UpdatedAt = &t.Code, &v.Version, now
	if err := closeHistory(tx, asset.ID, now); err != nil {
		return err
	}
	return tx.Create(&TemplateVersionHistory{ID: NewID(), AssetID: asset.ID, TemplateVersionID: v.ID, ActiveFrom: now}).Error
}

func closeHistory(tx *gorm.DB, assetID string, now time.Time) error {
	return tx.Model(&TemplateVersionHistory{}).Where("asset_id = ? AND active_to IS NULL", assetID).
		Update("active_to", now).Error
}

// assignable checks, inside tx, that v of t can be given to assets now.
func assignable(tx *gorm.DB, t *Template, v *TemplateVersion, pointer string) error {
	var cur TemplateVersion
	if err := tx.Where("id = ?", v.ID).Take(&cur).Error; err != nil {
		return err
	}
	var tpl Template
	if err := tx.Where("id = ?", t.ID).Take(&tpl).Error; err != nil {
		return err
	}
	*v = cur
	switch {
	case tpl.Archived:
		return steward.Invalid(pointer, "archived_template", "template %q is archived and cannot be given to assets", t.Code)
	case cur.Archived:
		return steward.Invalid(pointer, "archived_template_version", "template %s version %s is archived and cannot be given to assets", t.Code, cur.Version)
	case cur.State != VersionReady:
		return steward.Invalid(pointer, "template_version_not_ready",
			"template %s version %s is %s; only ready versions can be given to assets", t.Code, cur.Version, cur.State)
	}
	return nil
}

// AssignTemplateVersion moves the assets at paths (canonical node paths in
// t's project) to version v, all or none: an unknown or archived asset, or a
// version that is not ready, is a 422 and moves nothing.
func (s *Store) AssignTemplateVersion(ctx context.Context, actor *Actor, project *Node, t *Template, v *TemplateVersion, paths []string) (*TemplateVersion, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/templates", "node", project.Path+"/templates"); err != nil {
		return nil, err
	}
	const ptr = "asset_paths"
	if len(paths) == 0 {
		return nil, steward.Invalid(ptr, "blank", "asset_paths must name at least one asset, e.g. %s/assets/<code>", project.Path)
	}
	if len(paths) > 1000 {
		return nil, steward.Invalid(ptr, "too_long", "asset_paths may name at most 1000 assets per request")
	}
	// Paths are node paths (/projects/p/assets/a); the API path of a node is accepted too.
	for i, p := range paths {
		paths[i] = strings.TrimPrefix(p, "/api")
	}
	paths = dedupe(paths)
	out := *v
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := assignable(tx, t, &out, ptr); err != nil {
			return err
		}
		var assets []Node
		if err := tx.Where("path IN ? AND kind = ? AND project_id = ?", paths, KindAsset, project.ID).Order("path").Find(&assets).Error; err != nil {
			return err
		}
		found := map[string]bool{}
		var archived []string
		for _, a := range assets {
			found[a.Path] = true
			if a.Archived {
				archived = append(archived, a.Path)
			}
		}
		var missing []string
		for _, p := range paths {
			if !found[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return &steward.Error{Kind: steward.KindInvalid, Code: "unknown_assets", Field: ptr, Meta: map[string]any{"asset_paths": missing},
				Detail: fmt.Sprintf("the following asset(s) do not exist in project %q: %s", project.Code, strings.Join(missing, ", "))}
		}
		if len(archived) > 0 {
			return &steward.Error{Kind: steward.KindInvalid, Code: "archived_assets", Field: ptr, Meta: map[string]any{"asset_paths": archived},
				Detail: "the following asset(s) are archived: " + strings.Join(archived, ", ")}
		}
		now := s.Now()
		for i := range assets {
			if err := s.moveAsset(tx, &assets[i], t, &out, now); err != nil {
				return err
			}
		}
		attrs := out.eventAttrs(t)
		// An object (path -> asset id), not a list: the reference's event
		// attribute values are booleans, numbers, objects or strings.
		moved := JSONMap{}
		for _, a := range assets {
			moved[a.Path] = a.ID
		}
		attrs["assets"] = moved
		return s.Record(tx, actor, "api:template_versions:assign_to_assets", project.EventSource(), attrs)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
