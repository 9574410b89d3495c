package run

import (
	"context"

	"github.com/stewardhq/steward/model"
	"gorm.io/gorm"
)

// ChangeView is what a change document shows besides the change rows, read
// from one snapshot.
type ChangeView struct {
	Nodes    map[string]*model.Node      // the changes' nodes and their ancestors
	Steps    map[string][]Step           // change id -> its steps, in position order
	Versions map[string]model.VersionRef // template version id -> it and its template
	Queue    map[string]QueueInfo        // change id -> queue facts, for the changes asked
	Runs     map[string]string           // workflow run id -> its workflow's id
}

// ViewChanges reads the view of changes. Queue facts cost a few queries a
// change, so they are read only for the changes queue selects.
func (s *Store) ViewChanges(ctx context.Context, changes []*Change, queue func(*Change) bool) (*ChangeView, error) {
	v := &ChangeView{Queue: map[string]QueueInfo{}, Runs: map[string]string{}}
	var nodeIDs, changeIDs, versionIDs, runIDs []string
	for _, c := range changes {
		if c.WorkflowRunID != nil {
			runIDs = append(runIDs, *c.WorkflowRunID)
		}
		nodeIDs = append(nodeIDs, c.NodeID)
		changeIDs = append(changeIDs, c.ID)
		if c.TemplateVersionID != nil {
			versionIDs = append(versionIDs, *c.TemplateVersionID)
		}
	}
	err := s.Snapshot(ctx, func(s *Store) (err error) {
		if v.Nodes, err = s.NodesWithAncestors(ctx, nodeIDs); err != nil {
			return err
		}
		if v.Steps, err = s.ChangeSteps(ctx, changeIDs); err != nil {
			return err
		}
		if v.Versions, err = s.VersionRefs(ctx, versionIDs); err != nil {
			return err
		}
		if len(runIDs) > 0 {
			var runs []WorkflowRun
			err := s.Read(ctx, func(db *gorm.DB) error {
				return db.Select("id", "workflow_id").Where("id IN ?", model.Dedupe(runIDs)).Find(&runs).Error
			})
			if err != nil {
				return err
			}
			for _, r := range runs {
				v.Runs[r.ID] = r.WorkflowID
			}
		}
		for _, c := range changes {
			if queue != nil && queue(c) {
				if v.Queue[c.ID], err = s.ChangeQueueInfo(ctx, c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return v, err
}

// Lineage is the change's node with its project and environment (nil when
// the node sits in none).
func (v *ChangeView) Lineage(c *Change) (node, project, env *model.Node) {
	node = v.Nodes[c.NodeID]
	if node == nil {
		return nil, nil, nil
	}
	project = node
	if node.ProjectID != nil {
		project = v.Nodes[*node.ProjectID]
	}
	switch {
	case node.Kind == model.KindEnvironment:
		env = node
	case node.Kind == model.KindAsset && node.ParentID != nil && *node.ParentID != *node.ProjectID:
		env = v.Nodes[*node.ParentID]
	}
	return node, project, env
}

// StepView is what a step document shows besides the step rows, read from
// one snapshot.
type StepView struct {
	Children         map[string][]string // step id -> its child step ids
	PropertyVersions map[string][]string // step id -> the property versions it wrote
	NodePaths        map[string]string   // change id -> the path of the change's node
}

// ViewSteps reads the view of steps, of any changes.
func (s *Store) ViewSteps(ctx context.Context, steps []*Step) (*StepView, error) {
	ids := make([]string, len(steps))
	changeIDs := make([]string, len(steps))
	for i, st := range steps {
		ids[i], changeIDs[i] = st.ID, st.ChangeID
	}
	v := &StepView{NodePaths: map[string]string{}}
	err := s.Snapshot(ctx, func(s *Store) (err error) {
		if v.Children, err = s.StepChildren(ctx, ids); err != nil {
			return err
		}
		if v.PropertyVersions, err = s.StepPropertyVersions(ctx, ids); err != nil {
			return err
		}
		changes, err := s.ChangesByID(ctx, model.Dedupe(changeIDs))
		if err != nil {
			return err
		}
		nodeIDs := make([]string, 0, len(changes))
		for _, c := range changes {
			nodeIDs = append(nodeIDs, c.NodeID)
		}
		nodes, err := s.NodesByID(ctx, model.Dedupe(nodeIDs))
		for id, c := range changes {
			if n := nodes[c.NodeID]; n != nil {
				v.NodePaths[id] = n.Path
			}
		}
		return err
	})
	return v, err
}
