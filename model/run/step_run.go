package run

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/stewardhq/steward/model"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/converge"
)

// RunContext is what a change's steps run with: the node, the remote and
// commit to check out, where actions.yaml sits in it, and the converged
// properties (repository, project, environment, asset, then the change's
// property_overrides).
type RunContext struct {
	Node   *model.Node
	Source *model.RepositorySource // Remote carries opened credentials: never render or log it
	// ActionsDir is the folder of actions.yaml inside the checkout ("" for
	// the root); steps run there.
	ActionsDir string
	Properties model.JSONMap
}

// ChangeRunContext resolves c's run context now. Properties are read fresh,
// so a step sees the patches earlier steps applied.
func (s *Store) ChangeRunContext(ctx context.Context, c *Change) (*RunContext, error) {
	if c.CommitSHA == nil {
		return nil, steward.Errorf(steward.KindInternal, "change %s has no commit", c.ID)
	}
	node, lineage, err := s.runLineage(ctx, c.NodeID)
	if err != nil {
		return nil, err
	}
	rc := &RunContext{Node: node}
	if c.TemplateVersionID != nil {
		err = s.templateRunSource(ctx, c, rc)
	} else {
		err = s.remoteRunSource(ctx, c, &lineage[0].Node, rc)
	}
	if err != nil {
		return nil, err
	}
	// As ConvergedPropertiesAt merges them: the repository's files, then
	// the lineage's properties, root first; then the change's overrides.
	files, err := s.RepositoryProperties(ctx, node, rc.Source)
	if err != nil {
		return nil, err
	}
	docs := make([]map[string]any, 0, len(files)+len(lineage)+1)
	for _, f := range files {
		docs = append(docs, f.Content)
	}
	for _, l := range lineage {
		docs = append(docs, map[string]any(l.Properties))
	}
	rc.Properties = model.JSONMap(converge.Merge(append(docs, c.PropertyOverrides)...))
	return rc, nil
}

// templateRunSource: asset changes run their template version's commit from
// the template's repository, in <template code>/ when actions.yaml is there.
func (s *Store) templateRunSource(ctx context.Context, c *Change, rc *RunContext) error {
	var tv model.TemplateVersion
	var tpl model.Template
	err := s.Read(ctx, func(db *gorm.DB) error { return model.TakeVersion(db, *c.TemplateVersionID, &tv, &tpl) })
	if err != nil {
		return err
	}
	remote, err := s.TemplateRemote(&tpl)
	if err != nil {
		return err
	}
	rc.Source = &model.RepositorySource{Remote: remote, CommitSHA: *c.CommitSHA,
		Label: fmt.Sprintf("template %q version %q", tpl.Code, tv.Version)}
	_, err = s.Git.ReadFile(ctx, remote, *c.CommitSHA, path.Join(tpl.Code, "actions.yaml"))
	switch {
	case err == nil:
		rc.ActionsDir = tpl.Code
	case !errors.Is(err, gitops.ErrFileNotFound):
		return model.GitError(err, "")
	}
	return nil
}

// remoteRunSource: project and environment changes run the commit of the
// project's git remote they name.
func (s *Store) remoteRunSource(ctx context.Context, c *Change, project *model.Node, rc *RunContext) error {
	_, remote, err := s.RemoteForRun(ctx, project, c.GitRemoteName)
	if err != nil {
		return err
	}
	rc.Source = &model.RepositorySource{Remote: remote, CommitSHA: *c.CommitSHA,
		Label: fmt.Sprintf("git remote %q", c.GitRemoteName)}
	return nil
}

// lineageNode is a node of a lineage with its properties document.
type lineageNode struct {
	model.Node
	Properties model.JSONMap
}

// runLineage reads node id, its ancestors (project first) and their
// properties in one statement: a node's lineage is at most three deep
// (project, environment, asset), so its parent and grandparent.
func (s *Store) runLineage(ctx context.Context, id string) (*model.Node, []*lineageNode, error) {
	var rows []*lineageNode
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Table("nodes").Select("nodes.*, property_sets.data AS properties").
			Joins("JOIN property_sets ON property_sets.id = nodes.properties_id").
			Where(`nodes.id IN (?, (SELECT parent_id FROM nodes WHERE id = ?),
  (SELECT p.parent_id FROM nodes n JOIN nodes p ON p.id = n.parent_id WHERE n.id = ?))`, id, id, id).
			Scan(&rows).Error
	})
	if err != nil {
		return nil, nil, err
	}
	byPath := map[string]*lineageNode{}
	var node *model.Node
	for _, r := range rows {
		byPath[r.Path] = r
		if r.ID == id {
			node = &r.Node
		}
	}
	if node == nil {
		return nil, nil, steward.NotFound("node", id)
	}
	paths := model.Lineage(node.Path)
	out := make([]*lineageNode, 0, len(paths))
	for _, p := range paths {
		if byPath[p] == nil {
			// An ancestor is never deleted while it has children.
			return nil, nil, steward.NotFound("node", p)
		}
		out = append(out, byPath[p])
	}
	return node, out, nil
}
