package model

import steward "github.com/stewardhq/steward"
import "gorm.io/gorm"

// How an asset names its template: template_name (the template's code, or
// its name when no code matches and exactly one template has that name) and
// template_version (a version of that template). Both are checked inside the
// node's write transaction, which also records the template version history.

// checkTemplate checks the form of the template attributes before the write.
func (s *Store) checkTemplate(in NodeInput) error {
	if in.TemplateName != nil && len(*in.TemplateName) > 200 {
		return steward.Invalid("template_name", "too_long", "template_name must be at most 200 characters")
	}
	if in.TemplateVersion != nil && len(*in.TemplateVersion) > 100 {
		return steward.Invalid("template_version", "too_long", "template_version must be at most 100 characters")
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// setAssetTemplate applies the template attributes of in to asset n inside
// tx: n names a ready version (its history gains a period when it changes) or
// no template. set lists the attributes an update sent; nil means n is being
// created. On update a missing attribute keeps the current template or version.
func (s *Store) setAssetTemplate(tx *gorm.DB, n *Node, in NodeInput, set map[string]bool) error {
	const namePtr, versionPtr = "template_name", "template_version"
	creating := set == nil
	nameSet, versionSet := creating || set["template_name"], creating || set["template_version"]
	if n.Kind != KindAsset || (!nameSet && !versionSet) {
		return nil
	}
	name, version := deref(in.TemplateName), deref(in.TemplateVersion)
	var cur *VersionRef
	if curID, err := assetVersionID(tx, n.ID); err != nil {
		return err
	} else if curID != nil {
		var ref VersionRef
		ref.Version, ref.Template = &TemplateVersion{}, &Template{}
		if err := tx.Where("id = ?", *curID).Take(ref.Version).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", ref.Version.TemplateID).Take(ref.Template).Error; err != nil {
			return err
		}
		cur = &ref
	}
	if cur != nil && !nameSet {
		name = cur.Template.Code
	}
	if cur != nil && !versionSet && (name == cur.Template.Code || name == cur.Template.Name) {
		version = cur.Version.Version
	}
	now := s.Now()
	if creating {
		now = n.CreatedAt
	}
	switch {
	case name == "" && version == "":
		n.TemplateName, n.TemplateVersion = nil, nil
		if err := tx.Model(&Node{}).Where("id = ?", n.ID).UpdateColumns(map[string]any{
			"template_version_id": nil, "template_name": nil, "template_version": nil}).Error; err != nil {
			return err
		}
		return closeHistory(tx, n.ID, now)
	case name == "":
		return steward.Invalid(namePtr, "required", "template_version %q needs a template_name", version)
	}
	t, err := findTemplate(tx, *n.ProjectID, name)
	if err != nil {
		return err
	}
	if version == "" {
		return steward.Invalid(versionPtr, "required", "template_name %q needs a template_version", name)
	}
	var v TemplateVersion
	err = tx.Where("template_id = ? AND version = ?", t.ID, version).Take(&v).Error
	if ModelNotFound(TranslateError(err)) {
		return steward.Invalid(versionPtr, "unknown_template_version", "template %q has no version %q", t.Code, version)
	}
	if err != nil {
		return err
	}
	if t.Archived {
		return steward.Invalid(namePtr, "archived_template", "template %q is archived and cannot be given to assets", t.Code)
	}
	if cur != nil && cur.Version.ID == v.ID {
		// Unchanged: keep the history, store the canonical names.
		n.TemplateName, n.TemplateVersion = &t.Code, &v.Version
		return tx.Model(&Node{}).Where("id = ?", n.ID).UpdateColumns(map[string]any{
			"template_name": t.Code, "template_version": v.Version}).Error
	}
	if err := assignable(tx, t, &v, versionPtr); err != nil {
		return err
	}
	return s.moveAsset(tx, n, t, &v, now)
}

// findTemplate finds a template of the project by code, else by name.
func findTemplate(tx *gorm.DB, projectID, name string) (*Template, error) {
	const namePtr = "template_name"
	var found []Template
	if err := tx.Where("project_id = ? AND code = ?", projectID, name).Find(&found).Error; err != nil {
		return nil, err
	}
	if len(found) == 0 {
		if err := tx.Where("project_id = ? AND name = ?", projectID, name).Limit(2).Find(&found).Error; err != nil {
			return nil, err
		}
	}
	switch len(found) {
	case 0:
		return nil, steward.Invalid(namePtr, "unknown_template", "template %q does not exist in this project", name)
	case 1:
		return &found[0], nil
	}
	return nil, steward.Invalid(namePtr, "ambiguous_template", "more than one template is named %q; use the template's code", name)
}
