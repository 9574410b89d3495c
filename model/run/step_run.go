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
	node, project, err := s.nodeAndProject(ctx, c.NodeID)
	if err != nil {
		return nil, err
	}
	rc := &RunContext{Node: node}
	if c.TemplateVersionID != nil {
		err = s.templateRunSource(ctx, c, rc)
	} else {
		err = s.remoteRunSource(ctx, c, project, rc)
	}
	if err != nil {
		return nil, err
	}
	conv, err := s.ConvergedPropertiesAt(ctx, node, rc.Source)
	if err != nil {
		return nil, err
	}
	rc.Properties = model.JSONMap(converge.Merge(conv.Data, c.PropertyOverrides))
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

// nodeAndProject reads node id and its project (the node itself for a
// project) in one statement.
func (s *Store) nodeAndProject(ctx context.Context, id string) (node, project *model.Node, err error) {
	var rows []*model.Node
	err = s.Read(ctx, func(db *gorm.DB) error {
		return db.Where("id = ? OR id = (SELECT project_id FROM nodes WHERE id = ?)", id, id).Find(&rows).Error
	})
	if err != nil {
		return nil, nil, err
	}
	for _, n := range rows {
		if n.ID == id {
			node = n
		}
	}
	if node == nil {
		return nil, nil, steward.NotFound("node", id)
	}
	project = node
	for _, n := range rows {
		if node.ProjectID != nil && n.ID == *node.ProjectID {
			project = n
		}
	}
	return node, project, nil
}
