package schedule

import (
	"context"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// RunWorkflows is WorkflowRuns over the run store's workflow runs: a
// scheduled workflow runs a published version of one of its project's
// workflows, as POST .../workflow_runs does, marked scheduled.
func RunWorkflows(runs *run.Store) WorkflowRuns { return &runWorkflows{runs: runs} }

type runWorkflows struct{ runs *run.Store }

// CheckWorkflow refuses a workflow activity below a project (workflows
// belong to projects), new_commits_only (a workflow pins no commit of its
// own), and a workflow or version that cannot run; without a version it
// pins the latest published one, which the document shows.
func (w *runWorkflows) CheckWorkflow(ctx context.Context, node *model.Node, a *Activity) error {
	if node.Kind != model.KindProject {
		return steward.Invalid(ptrWorkflowCode, "not_allowed",
			"workflows belong to projects: schedule workflow %s on /projects/%s, not on %s %s", *a.WorkflowCode, projectCodeOf(node), node.Kind, node.Path)
	}
	if a.NewCommitsOnly {
		return steward.Invalid("new_commits_only", "not_allowed", "new_commits_only applies to scheduled changes; a workflow's changes name their own revs")
	}
	if a.WorkflowVersion != nil && *a.WorkflowVersion < 1 {
		return steward.Invalid("version", "invalid_version", "version must be a published version number (1 or more)")
	}
	_, v, err := w.runs.RunnableWorkflowVersion(ctx, node, *a.WorkflowCode, a.WorkflowVersion)
	if model.ModelNotFound(err) {
		field := ptrWorkflowCode
		if a.WorkflowVersion != nil {
			field = "version"
		}
		e := steward.AsError(err)
		return steward.Invalid(field, "unknown_workflow", "%s", e.Detail)
	}
	if err != nil {
		return err
	}
	if a.WorkflowVersion == nil {
		a.WorkflowVersion = &v.Version
	}
	return nil
}

// PrepareWorkflowRun reads the version a's firing runs (its run and step
// tree are built when inserted).
func (w *runWorkflows) PrepareWorkflowRun(ctx context.Context, actor *model.Actor, node *model.Node, a *Activity) (Prepared, error) {
	wf, v, err := w.runs.RunnableWorkflowVersion(ctx, node, *a.WorkflowCode, a.WorkflowVersion)
	if err != nil {
		return nil, err
	}
	return &preparedRun{runs: w.runs, actor: actor, project: node, wf: wf, v: v,
		in: run.WorkflowRunInput{Metadata: a.Metadata, PropertyOverrides: a.PropertyOverrides, Scheduled: true}}, nil
}

// RunActive reports whether workflow run id has not ended.
func (w *runWorkflows) RunActive(tx *gorm.DB, id string) (bool, error) {
	var statuses []string
	if err := tx.Model(&run.WorkflowRun{}).Where("id = ?", id).Pluck("status", &statuses).Error; err != nil {
		return false, err
	}
	return len(statuses) == 1 && !run.Terminal(statuses[0]), nil
}

// preparedRun is a workflow run to insert in the firing's transaction; its
// id is known once inserted.
type preparedRun struct {
	runs    *run.Store
	actor   *model.Actor
	project *model.Node
	wf      *model.Workflow
	v       *model.WorkflowVersion
	in      run.WorkflowRunInput
	id      string
}

func (p *preparedRun) RunID() string     { return p.id }
func (p *preparedRun) CommitSHA() string { return "" }
func (p *preparedRun) Insert(tx *gorm.DB) error {
	r, _, err := p.runs.InsertWorkflowRun(tx, p.actor, p.project, p.wf, p.v, p.in, nil)
	if err == nil {
		p.id = r.ID
	}
	return err
}

func projectCodeOf(n *model.Node) string {
	for _, p := range model.Lineage(n.Path) {
		return p[len("/projects/"):]
	}
	return n.Code
}
