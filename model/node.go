package model

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/authz"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Node kinds. Projects, environments and assets are nodes of one tree.
const (
	KindProject     = "project"
	KindEnvironment = "environment"
	KindAsset       = "asset"
)

// Node is a project, environment or asset. Path is its canonical API path
// without /api (/projects/p/environments/e/assets/a) and is unique, so one
// indexed lookup resolves any URL prefix to a node.
type Node struct {
	ID              string `gorm:"primaryKey"`
	Kind            string
	Code            string
	Name            string
	Description     *string
	Archived        bool
	ProjectType     *string
	ParentID        *string
	ProjectID       *string
	Path            string
	PropertiesID    string
	SettingsID      string
	TemplateName    *string
	TemplateVersion *string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Segment is the path segment naming children of a kind ("environments").
func Segment(kind string) string { return kind + "s" }

// ParentPath is the path of the node's parent ("" for projects).
func (n *Node) ParentPath() string {
	if i := strings.LastIndex(n.Path, "/"+Segment(n.Kind)+"/"); i > 0 {
		return n.Path[:i]
	}
	return ""
}

// ChildKinds lists the kinds a node of kind may own.
func ChildKinds(kind string) []string {
	switch kind {
	case KindProject:
		return []string{KindEnvironment, KindAsset}
	case KindEnvironment:
		return []string{KindAsset}
	}
	return []string{}
}

// NodePath builds the canonical path from codes: project, then optional
// environment, then optional asset.
func NodePath(project, environment, asset string) string {
	p := "/projects/" + project
	if environment != "" {
		p += "/environments/" + environment
	}
	if asset != "" {
		p += "/assets/" + asset
	}
	return p
}

var codePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// MaxCodeLength bounds node codes (they appear in every URL below the node).
const MaxCodeLength = 50

// ValidateCode checks a node code: letters, digits, '_' and '-', 1-50 long.
func ValidateCode(code string) error {
	const ptr = "code"
	switch {
	case code == "":
		return steward.Invalid(ptr, "blank", "code must not be empty")
	case len(code) > MaxCodeLength:
		return steward.Invalid(ptr, "too_long", "code must be at most %d characters", MaxCodeLength)
	case !codePattern.MatchString(code):
		return steward.Invalid(ptr, "invalid_format", "code %q may contain only letters, digits, '_' and '-'", code)
	}
	return nil
}

func validateName(name string) error {
	const ptr = "name"
	if strings.TrimSpace(name) == "" {
		return steward.Invalid(ptr, "blank", "name must not be empty")
	}
	if len(name) > 200 {
		return steward.Invalid(ptr, "too_long", "name must be at most 200 characters")
	}
	return nil
}

// MaxProjectTypeLength bounds project_type (a label such as Standard or Enterprise).
const MaxProjectTypeLength = 50

func validateProjectType(pt *string) error {
	const ptr = "project_type"
	switch {
	case pt == nil:
		return nil
	case strings.TrimSpace(*pt) == "":
		return steward.Invalid(ptr, "blank", "project_type must not be empty (leave it out for Standard)")
	case len(*pt) > MaxProjectTypeLength:
		return steward.Invalid(ptr, "too_long", "project_type must be at most %d characters", MaxProjectTypeLength)
	}
	return nil
}

func validateDescription(d *string) error {
	if d != nil && len(*d) > 10000 {
		return steward.Invalid("description", "too_long", "description must be at most 10000 characters")
	}
	return nil
}

// NodeByPath loads the node at path (without /api). 404 when missing.
func (s *Store) NodeByPath(ctx context.Context, path string) (*Node, error) {
	if err := AuthoriseRead(ctx, path, "node", path); err != nil {
		return nil, err
	}
	if s.known == nil {
		var n Node
		err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("path = ?", path).Take(&n).Error })
		if ModelNotFound(err) {
			return nil, steward.NotFound("node", path)
		}
		return &n, err
	}
	// In a snapshot the node's ancestors come with it, in the same query:
	// its document names them, and NodesByID finds them here.
	var nodes []Node
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Where("path IN ?", append(ancestorPaths(path), path)).Find(&nodes).Error
	}); err != nil {
		return nil, err
	}
	var found *Node
	for i := range nodes {
		s.known[nodes[i].ID] = &nodes[i]
		if nodes[i].Path == path {
			found = &nodes[i]
		}
	}
	if found == nil {
		return nil, steward.NotFound("node", path)
	}
	return found, nil
}

// ancestorPaths are the paths of the nodes above path, outermost first:
// /projects/p/environments/e/assets/a -> /projects/p, /projects/p/environments/e.
func ancestorPaths(path string) []string {
	var out []string
	for i, slashes := 1, 0; i < len(path); i++ {
		if path[i] == '/' {
			if slashes++; slashes%2 == 0 {
				out = append(out, path[:i])
			}
		}
	}
	return out
}

// NodesByID loads nodes by id (for includes and parents), keyed by id.
func (s *Store) NodesByID(ctx context.Context, ids []string) (map[string]*Node, error) {
	out := make(map[string]*Node, len(ids))
	// What this snapshot already read is checked here as the SQL filter
	// below would check it (the two are proven to agree).
	var missing []string
	reader := ActorOf(ctx)
	for _, id := range ids {
		if n, ok := s.known[id]; ok {
			if reader.Can(authz.Read, n.Path) {
				out[id] = n
			}
			continue
		}
		missing = append(missing, id)
	}
	if len(missing) == 0 {
		return out, nil
	}
	var nodes []Node
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return s.readablePaths(ctx, db.Where("id IN ?", missing), "path").Find(&nodes).Error
	}); err != nil {
		return nil, err
	}
	for i := range nodes {
		out[nodes[i].ID] = &nodes[i]
	}
	return out, nil
}

// ChildrenOf loads the direct children of the given nodes, grouped by parent id.
func (s *Store) ChildrenOf(ctx context.Context, parentIDs []string) (map[string][]*Node, error) {
	out := map[string][]*Node{}
	if len(parentIDs) == 0 {
		return out, nil
	}
	if kids, ok := s.memoChildren(ctx, parentIDs); ok {
		return kids, nil
	}
	var nodes []Node
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return s.readablePaths(ctx, db.Where("parent_id IN ?", parentIDs), "path").Order("id").Find(&nodes).Error
	}); err != nil {
		return nil, err
	}
	for i := range nodes {
		out[*nodes[i].ParentID] = append(out[*nodes[i].ParentID], &nodes[i])
	}
	return out, nil
}

// childrenQuery scopes a list to the children of kind under parent (nil: projects).
func childrenQuery(db *gorm.DB, parent *Node, kind string) *gorm.DB {
	q := db.Model(&Node{}).Where("kind = ?", kind)
	if parent == nil {
		return q.Where("parent_id IS NULL")
	}
	return q.Where("parent_id = ?", parent.ID)
}

// NodeFilters are the attributes a list of nodes of kind may filter and sort
// by (attribute -> column); a new map on each call.
func NodeFilters(kind string) map[string]listquery.Field {
	f := map[string]listquery.Field{
		"id":          {Column: "id", Kind: listquery.UUID},
		"code":        {Column: "code"},
		"name":        {Column: "name"},
		"description": {Column: "description", Nullable: true},
		"archived":    {Column: "archived", Kind: listquery.Bool},
		"created_at":  {Column: "created_at", Kind: listquery.Time},
		"updated_at":  {Column: "updated_at", Kind: listquery.Time},
	}
	if kind == KindProject {
		f["project_type"] = listquery.Field{Column: "project_type"}
	}
	return f
}

// ChildList is childrenQuery as a list source.
func (s *Store) ChildList(parent *Node, kind string) Source[Node] {
	return NewSource[Node](s, "id", func(db *gorm.DB) *gorm.DB { return childrenQuery(db, parent, kind) }).
		scoped(func(ctx context.Context, db *gorm.DB) *gorm.DB { return s.readablePaths(ctx, db, "nodes.path") })
}

// NodeInput is what a client may set on a node.
type NodeInput struct {
	Code            string
	Name            string
	Description     *string
	ProjectType     *string
	TemplateName    *string
	TemplateVersion *string
	Archived        bool
}

// CreateNode creates a node of kind under parent (nil for a project) with its
// properties and settings, in one transaction. Duplicate codes among siblings
// and archived parents are 422s.
func (s *Store) CreateNode(ctx context.Context, actor *Actor, parent *Node, kind string, in NodeInput) (*Node, error) {
	if err := steward.First(ValidateCode(in.Code), validateName(in.Name), validateDescription(in.Description)); err != nil {
		return nil, err
	}
	if kind == KindProject {
		if err := validateProjectType(in.ProjectType); err != nil {
			return nil, err
		}
	}
	if kind == KindAsset {
		if err := s.checkTemplate(in); err != nil {
			return nil, err
		}
	}
	now := s.Now()
	n := &Node{ID: NewID(), Kind: kind, Code: in.Code, Name: in.Name, Description: in.Description,
		TemplateName: in.TemplateName, TemplateVersion: in.TemplateVersion, CreatedAt: now, UpdatedAt: now}
	if kind == KindProject {
		pt := "Standard"
		if in.ProjectType != nil && *in.ProjectType != "" {
			pt = *in.ProjectType
		}
		n.ProjectType = &pt
		n.Path = NodePath(in.Code, "", "")
	} else {
		n.ParentID = &parent.ID
		projectID := parent.ID
		if parent.ProjectID != nil {
			projectID = *parent.ProjectID
		}
		n.ProjectID = &projectID
		n.Path = parent.Path + "/" + Segment(kind) + "/" + in.Code
	}
	if err := actor.Require(authz.Update, n.Path); err != nil {
		return nil, err
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if parent != nil {
			// Re-read the ancestors inside the transaction: one may have been
			// archived since. An archived project closes its environments too.
			ids := []string{parent.ID}
			if parent.ProjectID != nil {
				ids = append(ids, *parent.ProjectID)
			}
			var closed []Node
			if err := tx.Where("id IN ? AND archived = ?", ids, true).Order("path").Find(&closed).Error; err != nil {
				return err
			}
			if len(closed) > 0 {
				p := closed[0]
				return &steward.Error{Kind: steward.KindInvalid, Code: "archived_parent",
					Detail: fmt.Sprintf("%s %q is archived and accepts no new %s", p.Kind, p.Code, Segment(kind))}
			}
		}
		var taken int64
		if err := tx.Model(&Node{}).Where("path = ?", n.Path).Count(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			return steward.Invalid("code", "taken", "%s code %q is already used here", kind, in.Code)
		}
		props, err := s.newPropertySet(tx, KindProperties, kind, n.ID, actor.Name(), nil)
		if err != nil {
			return err
		}
		settings, err := s.newPropertySet(tx, KindSettings, kind, n.ID, actor.Name(), DefaultSettings())
		if err != nil {
			return err
		}
		n.PropertiesID, n.SettingsID = props.ID, settings.ID
		if err := tx.Create(n).Error; err != nil {
			if IsDuplicate(TranslateError(err)) {
				return steward.Invalid("code", "taken", "%s code %q is already used here", kind, in.Code)
			}
			return err
		}
		if err := s.setAssetTemplate(tx, n, in, nil); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:"+Segment(kind)+":create", n.EventSource(), JSONMap{"code": n.Code})
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// EventSource is how events link back to the node.
func (n *Node) EventSource() *EventSource {
	return &EventSource{Type: n.Kind, ID: n.ID, Path: n.Path, NodeID: n.ID}
}

// UpdateNode changes name, description (and template fields for assets).
// The code is the node's identity in every path and cannot change.
// archived: true archives the node as ArchiveNode does (the same
// permission, the same disabled activities, the same event).
func (s *Store) UpdateNode(ctx context.Context, actor *Actor, n *Node, in NodeInput, set map[string]bool) (*Node, error) {
	if err := actor.Authorise(authz.Update, n.Path, "node", n.Path); err != nil {
		return nil, err
	}
	archiving := set["archived"] && in.Archived && !n.Archived
	if archiving {
		if err := actor.Authorise(authz.Delete, n.Path, "node", n.Path); err != nil {
			return nil, err
		}
	}
	if set["code"] && in.Code != n.Code {
		return nil, steward.Invalid("code", "immutable", "code cannot be changed; it is part of the %s's path", n.Kind)
	}
	updates := map[string]any{}
	if set["name"] {
		if err := validateName(in.Name); err != nil {
			return nil, err
		}
		updates["name"] = in.Name
	}
	if set["description"] {
		if err := validateDescription(in.Description); err != nil {
			return nil, err
		}
		updates["description"] = in.Description
	}
	if set["project_type"] && n.Kind == KindProject && in.ProjectType != nil {
		if err := validateProjectType(in.ProjectType); err != nil {
			return nil, err
		}
		updates["project_type"] = in.ProjectType
	}
	if set["archived"] {
		updates["archived"] = in.Archived
	}
	if n.Kind == KindAsset && (set["template_name"] || set["template_version"]) {
		if err := s.checkTemplate(in); err != nil {
			return nil, err
		}
		updates["template_name"], updates["template_version"] = in.TemplateName, in.TemplateVersion
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if len(updates) > 0 {
			updates["updated_at"] = s.Now()
			if err := tx.Model(&Node{}).Where("id = ?", n.ID).Updates(updates).Error; err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", n.ID).Take(n).Error; err != nil {
			return err
		}
		if err := s.setAssetTemplate(tx, n, in, set); err != nil {
			return err
		}
		if archiving {
			if err := s.disableActivitiesBelow(tx, n); err != nil {
				return err
			}
			if err := s.Record(tx, actor, "api:"+Segment(n.Kind)+":archive", n.EventSource(), nil); err != nil {
				return err
			}
		}
		return s.Record(tx, actor, "api:"+Segment(n.Kind)+":update", n.EventSource(), nil)
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// disableActivitiesBelow disables the scheduled activities of n and of
// every node below it: they would only fail, an archived node taking no
// new changes.
func (s *Store) disableActivitiesBelow(tx *gorm.DB, n *Node) error {
	below := tx.Model(&Node{}).Select("id").Where("id = ? OR parent_id = ? OR project_id = ?", n.ID, n.ID, n.ID)
	return tx.Table("scheduled_activities").Where("node_id IN (?) AND enabled = ?", below, true).
		Updates(map[string]any{"enabled": false, "next_run_at": nil, "updated_at": s.Now()}).Error
}

// ArchiveNode archives n: it stays readable but accepts no new children,
// and the scheduled activities of n and of every node below it are
// disabled (they would only fail: an archived node takes no new changes).
func (s *Store) ArchiveNode(ctx context.Context, actor *Actor, n *Node) (*Node, error) {
	if err := actor.Authorise(authz.Delete, n.Path, "node", n.Path); err != nil {
		return nil, err
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&Node{}).Where("id = ?", n.ID).Updates(map[string]any{"archived": true, "updated_at": s.Now()}).Error; err != nil {
			return err
		}
		if err := s.disableActivitiesBelow(tx, n); err != nil {
			return err
		}
		if err := tx.Where("id = ?", n.ID).Take(n).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:"+Segment(n.Kind)+":archive", n.EventSource(), nil)
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}
