package handler

import (
	"strings"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/authz"
	"github.com/stewardhq/steward/pkg/jsonapi"
	"github.com/stewardhq/steward/pkg/jsonstr"
)

type projectAttributes struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Archived    bool    `json:"archived"`
	ProjectType string  `json:"project_type"`
}

type environmentAttributes struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Archived    bool    `json:"archived"`
}

// assetAction is one action an asset's template offers.
type assetAction struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type assetAttributes struct {
	Code           string        `json:"code"`
	Name           string        `json:"name"`
	Description    *string       `json:"description"`
	Archived       bool          `json:"archived"`
	Actions        []assetAction `json:"actions"`
	MintmodelValid bool          `json:"mintmodel_valid"`
}

type nodeMeta struct {
	CanHaveChanges    bool                       `json:"can_have_changes"`
	CanHaveChildren   bool                       `json:"can_have_children"`
	CanHaveProperties bool                       `json:"can_have_properties"`
	CanHaveSettings   bool                       `json:"can_have_settings"`
	CanHaveTemplates  bool                       `json:"can_have_templates"`
	RequiresTemplate  bool                       `json:"requires_template"`
	ChildNodeTypes    []string                   `json:"child_node_types"`
	CanHaveWorkflows  bool                       `json:"can_have_workflows"`
	Authorisations    map[string]map[string]bool `json:"authorisations"`
	verbs             map[string][]authz.Verb    // what Authorisations asks about
}

// Steward has no licence tiers: every kind's meta is fixed but for
// authorisations, which say what the reader's rules let them do at the node
// (its sub-resources, each at the node's path + "/" + its name).
var (
	readUpdate  = []authz.Verb{authz.Read, authz.Update}
	readExecute = []authz.Verb{authz.Read, authz.Execute}
	selfUpdate  = []authz.Verb{authz.Update}

	nodeMetaByKind = map[string]*nodeMeta{
		model.KindProject: {
			CanHaveChanges: true, CanHaveChildren: true, CanHaveProperties: true, CanHaveSettings: true,
			CanHaveTemplates: true, CanHaveWorkflows: true, ChildNodeTypes: model.ChildKinds(model.KindProject),
			verbs: map[string][]authz.Verb{
				"properties": readUpdate, "settings": readUpdate, "scheduled_activities": readUpdate,
				"git_remotes": readUpdate, "templates": readUpdate, "workflows": readUpdate,
				"changes": readExecute, "workflow_runs": readExecute, "environments": readUpdate,
				"assets": readUpdate, "self": selfUpdate,
			},
		},
		model.KindEnvironment: {
			CanHaveChanges: true, CanHaveChildren: true, CanHaveProperties: true, CanHaveSettings: true,
			ChildNodeTypes: model.ChildKinds(model.KindEnvironment),
			verbs: map[string][]authz.Verb{
				"properties": readUpdate, "settings": readUpdate, "scheduled_activities": readUpdate,
				"changes": readExecute, "assets": readUpdate, "self": selfUpdate,
			},
		},
		model.KindAsset: {
			CanHaveChanges: true, CanHaveProperties: true, CanHaveSettings: true,
			ChildNodeTypes: model.ChildKinds(model.KindAsset),
			verbs: map[string][]authz.Verb{
				"properties": readUpdate, "settings": readUpdate, "scheduled_activities": readUpdate,
				"changes": readExecute, "self": selfUpdate,
			},
		},
	}
)

// nodeLinks lists, per kind, the sub-resources linked from a node.
var nodeLinks = map[string][]string{
	model.KindProject:     {"bookmarks", "changes", "scheduled_activities", "git_remotes", "workflows", "workflow_runs", "templates", "environments", "assets"},
	model.KindEnvironment: {"bookmarks", "changes", "scheduled_activities", "assets"},
	model.KindAsset:       {"bookmarks", "changes", "scheduled_activities", "converged_properties", "mintmodels", "mintmodel_history", "version_history"},
}

// projectCode is the first code in a node path (/projects/<code>/...).
func projectCode(path string) string {
	rest := strings.TrimPrefix(path, "/projects/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// nodeResource renders a node; rel supplies its relations.
func nodeResource(n *model.Node, rel *model.NodeView) *jsonapi.Resource {
	self := nodeLink(n)
	links := make(map[string]string, 12)
	links["self"] = self
	for _, sub := range nodeLinks[n.Kind] {
		links[sub] = self + "/" + sub
	}
	if pp := n.ParentPath(); pp != "" {
		links["parent"] = "/api" + pp
	}
	rels := map[string]*jsonapi.Relationship{
		"properties": jsonapi.ToOne("properties", n.PropertiesID, "/api/properties/"+n.PropertiesID),
		"settings":   jsonapi.ToOne("settings", n.SettingsID, "/api/settings/"+n.SettingsID),
		"parents":    jsonapi.ToMany(parentIDs(n)),
	}
	if n.Kind != model.KindProject {
		rels["project"] = jsonapi.ToOne(model.KindProject, *n.ProjectID, "/api/projects/"+projectCode(n.Path))
	}
	if n.Kind != model.KindAsset {
		var kids []jsonapi.Identifier
		for _, c := range rel.Children[n.ID] {
			kids = append(kids, jsonapi.Identifier{Type: c.Kind, ID: c.ID})
		}
		rels["children"] = jsonapi.ToMany(kids)
	} else {
		var history []jsonapi.Identifier
		for _, id := range rel.MintModelHistory[n.ID] {
			history = append(history, jsonapi.Identifier{Type: "mintmodel_history", ID: id})
		}
		rels["mintmodel_history"] = jsonapi.ToMany(history)
	}
	var marks []jsonapi.Identifier
	for _, id := range rel.Bookmarks[n.ID] {
		marks = append(marks, jsonapi.Identifier{Type: "bookmark", ID: id})
	}
	rels["bookmarks"] = jsonapi.ToMany(marks)

	var attrs any
	switch n.Kind {
	case model.KindProject:
		pt := "Standard"
		if n.ProjectType != nil {
			pt = *n.ProjectType
		}
		attrs = &projectAttributes{Code: n.Code, Name: n.Name, Description: n.Description, Archived: n.Archived, ProjectType: pt}
	case model.KindEnvironment:
		attrs = &environmentAttributes{Code: n.Code, Name: n.Name, Description: n.Description, Archived: n.Archived}
	default:
		actions := []assetAction{}
		if ref, ok := rel.Templates[n.ID]; ok {
			tp := "/api/projects/" + projectCode(n.Path) + "/templates/" + ref.Template.Code
			rels["template"] = jsonapi.ToOne("template", ref.Template.ID, tp)
			rels["template_version"] = jsonapi.ToOne("template_version", ref.Version.ID, tp+"/versions/"+ref.Version.Version)
			for _, act := range ref.Version.Actions {
				actions = append(actions, assetAction{Name: act.Name, Description: act.Description})
			}
		}
		attrs = &assetAttributes{Code: n.Code, Name: n.Name, Description: n.Description, Archived: n.Archived, Actions: actions,
			MintmodelValid: hasMintModel(rel.Templates[n.ID])}
	}
	return &jsonapi.Resource{Type: n.Kind, ID: n.ID, Attributes: attrs, Relationships: rels, Links: links, Meta: nodeMetaFor(n, rel.Actor)}
}

// hasMintModel reports whether the asset's template version was resolved with
// a MintModel template: rendering itself is checked by mintmodels/generate
// and when a change starts, not on every listing.
func hasMintModel(ref model.VersionRef) bool {
	return ref.Version != nil && ref.Version.HasMintmodel != nil && *ref.Version.HasMintmodel
}

// parentIDs lists a node's ancestors, project first, from ids it carries.
func parentIDs(n *model.Node) []jsonapi.Identifier {
	switch {
	case n.ParentID == nil:
		return nil
	case *n.ParentID == *n.ProjectID:
		return []jsonapi.Identifier{{Type: model.KindProject, ID: *n.ProjectID}}
	default:
		return []jsonapi.Identifier{{Type: model.KindProject, ID: *n.ProjectID}, {Type: model.KindEnvironment, ID: *n.ParentID}}
	}
}

// nodeMetaFor is n's meta for reader (nil: Steward itself, who may do
// everything).
func nodeMetaFor(n *model.Node, reader *model.Actor) *nodeMeta {
	m := *nodeMetaByKind[n.Kind]
	m.Authorisations = reader.Permissions(n, m.verbs)
	return &m
}

// AppendJSON writes m as encoding/json would (node_render_test.go compares):
// every node document has one, and its authorisations were most of the
// cost of rendering a list through encoding/json.
func (m *nodeMeta) AppendJSON(b []byte) ([]byte, error) {
	for _, f := range []struct {
		key string
		v   bool
	}{
		{`{"can_have_changes":`, m.CanHaveChanges}, {`,"can_have_children":`, m.CanHaveChildren},
		{`,"can_have_properties":`, m.CanHaveProperties}, {`,"can_have_settings":`, m.CanHaveSettings},
		{`,"can_have_templates":`, m.CanHaveTemplates}, {`,"requires_template":`, m.RequiresTemplate},
	} {
		b = jsonapi.AppendBool(append(b, f.key...), f.v)
	}
	b = append(b, `,"child_node_types":`...)
	if m.ChildNodeTypes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range m.ChildNodeTypes {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, t)
		}
		b = append(b, ']')
	}
	b = jsonapi.AppendBool(append(b, `,"can_have_workflows":`...), m.CanHaveWorkflows)
	b = jsonapi.AppendBoolMaps(append(b, `,"authorisations":`...), m.Authorisations)
	return append(b, '}'), nil
}
