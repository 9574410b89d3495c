package handler

import (
	"context"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type workflowRunAttributes struct {
	StepTree    map[string]any `json:"step_tree"`
	Scheduled   bool           `json:"scheduled"`
	Metadata    model.JSONMap  `json:"metadata"`
	CreatedBy   string         `json:"created_by"`
	StatusCode  string         `json:"status_code"`
	CreatedAt   string         `json:"created_at"`
	StartedAt   *string        `json:"started_at"`
	FinishedAt  *string        `json:"finished_at"`
	UpdatedAt   string         `json:"updated_at"`
	ProjectName string         `json:"project_name"`
}

// workflowStepType is the resource type of a run step.
func workflowStepType(st *run.WorkflowRunStep) string { return "workflow_" + st.Kind + "_step" }

// workflowRunResource renders a run; v (nil for CSV rows) supplies its steps
// and the workflow, version and project it belongs to.
func workflowRunResource(wr *run.WorkflowRun, v *run.WorkflowRunView) *jsonapi.Resource {
	attrs := &workflowRunAttributes{Scheduled: wr.Scheduled, Metadata: orEmptyMap(wr.Metadata), CreatedBy: wr.CreatedBy,
		StatusCode: wr.Status, CreatedAt: jsonapi.Timestamp(wr.CreatedAt), StartedAt: jsonapi.TimestampPtr(wr.StartedAt),
		FinishedAt: jsonapi.TimestampPtr(wr.FinishedAt), UpdatedAt: jsonapi.Timestamp(wr.UpdatedAt), StepTree: map[string]any{}}
	meta := map[string]any{}
	res := &jsonapi.Resource{Type: "workflow_run", ID: wr.ID, Attributes: attrs, Meta: meta}
	if v == nil {
		return res
	}
	project, wf := v.Projects[wr.ProjectID], v.Workflows[wr.WorkflowID]
	if project != nil {
		attrs.ProjectName = project.Name
	}
	steps := v.Steps[wr.ID]
	attrs.StepTree = stepTree(steps)
	ids := make([]jsonapi.Identifier, len(steps))
	for i := range steps {
		ids[i] = jsonapi.Identifier{Type: workflowStepType(&steps[i]), ID: steps[i].ID}
	}
	res.Relationships = map[string]*jsonapi.Relationship{
		"workflow_version":     jsonapi.ToOne("workflow_version", wr.WorkflowVersionID, ""),
		"workflow":             jsonapi.ToOne("workflow", wr.WorkflowID, ""),
		"parent_workflow_step": jsonapi.ToNull(""),
		"steps":                jsonapi.ToMany(ids),
	}
	if wr.ParentStepID != nil {
		res.Relationships["parent_workflow_step"] = jsonapi.ToOne("workflow_workflow_step", *wr.ParentStepID, "")
	}
	if len(steps) > 0 {
		res.Relationships["root_step"] = jsonapi.ToOne(workflowStepType(&steps[0]), steps[0].ID, "")
	}
	if project != nil && wf != nil {
		res.Links = map[string]string{"parent": nodeLink(project), "self": workflowRunLink(project.Path, wf.Code, wr.ID)}
	}
	if blockers, ok := v.Blockers[wr.ID]; ok {
		if blockers == nil {
			blockers = []string{}
		}
		meta["parallel_workflows_allowed"] = false
		meta["blocked_by_same_workflow_running"] = len(blockers) > 0
		meta["blocked_by_queue"] = blockers
	}
	return res
}

// stepTree nests a run's steps (in tree order) as the step_tree attribute
// shows them: each with its id, type, name and children, and what tells it
// apart (a stage's strategy, a change's target and action).
func stepTree(steps []run.WorkflowRunStep) map[string]any {
	nodes := make(map[string]map[string]any, len(steps))
	var root map[string]any
	for i := range steps {
		st := &steps[i]
		n := map[string]any{"id": st.ID, "type": workflowStepType(st), "name": st.Name, "children": []any{}}
		switch st.Kind {
		case run.WorkflowKindNoop:
			n["child_execution_strategy"] = st.ChildExecutionStrategy
		case run.WorkflowKindChange:
			n["target"], n["action"] = st.Target, st.Action
		case run.WorkflowKindWorkflow:
			n["target"] = st.Target
		}
		nodes[st.ID] = n
		if st.ParentID == nil {
			root = n
		} else if p := nodes[*st.ParentID]; p != nil {
			p["children"] = append(p["children"].([]any), n)
		}
	}
	if root == nil {
		return map[string]any{}
	}
	if _, ok := root["child_execution_strategy"]; !ok {
		root["child_execution_strategy"] = run.Sequential
	}
	return root
}

// renderWorkflowRuns renders runs and, for the include paths, their steps
// and the versions they run.
func (a *API) renderWorkflowRuns(ctx context.Context, runs []*run.WorkflowRun, include []string) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
	v, err := a.Store.ViewWorkflowRuns(ctx, runs)
	if err != nil {
		return nil, nil, err
	}
	data := make([]*jsonapi.Resource, len(runs))
	for i, wr := range runs {
		data[i] = workflowRunResource(wr, v)
	}
	if len(include) == 0 {
		return data, nil, nil
	}
	included := []*jsonapi.Resource{}
	for _, path := range include {
		switch path {
		case "steps":
			var steps []*run.WorkflowRunStep
			for _, wr := range runs {
				for i := range v.Steps[wr.ID] {
					steps = append(steps, &v.Steps[wr.ID][i])
				}
			}
			res, err := a.renderWorkflowSteps(ctx, steps)
			if err != nil {
				return nil, nil, err
			}
			included = append(included, res...)
		case "workflow_version":
			seen := map[string]bool{}
			for _, wr := range runs {
				ver, wf, project := v.Versions[wr.WorkflowVersionID], v.Workflows[wr.WorkflowID], v.Projects[wr.ProjectID]
				if ver != nil && wf != nil && project != nil && !seen[ver.ID] {
					seen[ver.ID] = true
					included = append(included, workflowVersionResource(project, wf, ver))
				}
			}
		}
	}
	return data, included, nil
}
