package handler

import (
	"context"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// stepActorWire is one approved_by/rejected_by/continued_by entry.
type stepActorWire struct {
	Username  string  `json:"username"`
	Message   *string `json:"message"`
	CreatedAt string  `json:"created_at,omitempty"`
}

func stepActors(in run.JSONActors) []stepActorWire {
	out := make([]stepActorWire, 0, len(in))
	for _, a := range in {
		w := stepActorWire{Username: a.Username, CreatedAt: a.CreatedAt}
		if a.Message != "" {
			m := a.Message
			w.Message = &m
		}
		out = append(out, w)
	}
	return out
}

type changeAttributes struct {
	CreatedBy            string          `json:"created_by"`
	Name                 *string         `json:"name"`
	Action               string          `json:"action"`
	InitialStepTree      *string         `json:"initial_step_tree"`
	Metadata             model.JSONMap   `json:"metadata"`
	PropertyOverrides    model.JSONMap   `json:"property_overrides"`
	Scheduled            bool            `json:"scheduled"`
	ApprovedBy           []stepActorWire `json:"approved_by"`
	RejectedBy           []stepActorWire `json:"rejected_by"`
	StatusCode           string          `json:"status_code"`
	CreatedAt            string          `json:"created_at"`
	StartedAt            *string         `json:"started_at"`
	FinishedAt           *string         `json:"finished_at"`
	UpdatedAt            string          `json:"updated_at"`
	AssetName            *string         `json:"asset_name"`
	EnvironmentName      string          `json:"environment_name"` // "" outside an environment: the reference wants a string
	ProjectName          string          `json:"project_name"`
	GitRemoteName        string          `json:"git_remote_name"`
	GitRev               string          `json:"git_rev"`
	CommitSHA            *string         `json:"commit_sha"`
	RequiresApprovalFrom *string         `json:"requires_approval_from"`
}

type stepAttributes struct {
	ApprovedBy             []stepActorWire `json:"approved_by"`
	RejectedBy             []stepActorWire `json:"rejected_by"`
	ContinuedBy            []stepActorWire `json:"continued_by"`
	RequiresApprovalFrom   *string         `json:"requires_approval_from"`
	Action                 string          `json:"action"`
	Name                   *string         `json:"name"`
	StepType               string          `json:"step_type"`
	ChildExecutionStrategy string          `json:"child_execution_strategy"`
	ChangeID               string          `json:"change_id"`
	SkipOnRetry            bool            `json:"skip_on_retry"`
	CreatedAt              string          `json:"created_at"`
	StartedAt              *string         `json:"started_at"`
	FinishedAt             *string         `json:"finished_at"`
	UpdatedAt              string          `json:"updated_at"`
	StatusCode             string          `json:"status_code"`
}

func changeResource(c *run.Change, cc *run.ChangeView) *jsonapi.Resource {
	node, project, env := cc.Lineage(c)
	steps := cc.Steps[c.ID]
	attrs := &changeAttributes{CreatedBy: c.CreatedBy, Name: c.Name, Action: c.Action,
		Metadata: orEmptyMap(c.Metadata), PropertyOverrides: orEmptyMap(c.PropertyOverrides), Scheduled: c.Scheduled,
		ApprovedBy: []stepActorWire{}, RejectedBy: []stepActorWire{}, StatusCode: c.Status,
		CreatedAt: jsonapi.Timestamp(c.CreatedAt), StartedAt: jsonapi.TimestampPtr(c.StartedAt),
		FinishedAt: jsonapi.TimestampPtr(c.FinishedAt), UpdatedAt: jsonapi.Timestamp(c.UpdatedAt),
		ProjectName: project.Name, GitRemoteName: c.GitRemoteName, GitRev: c.GitRev, CommitSHA: c.CommitSHA,
		RequiresApprovalFrom: c.RequiresApprovalFrom}
	if env != nil {
		attrs.EnvironmentName = env.Name
	}
	if node.Kind == model.KindAsset {
		attrs.AssetName = &node.Name
	}
	if st := run.ChangeApprovalStep(c, steps); st != nil {
		attrs.ApprovedBy, attrs.RejectedBy = stepActors(st.ApprovedBy), stepActors(st.RejectedBy)
	}
	parents := append(parentIDs(node), jsonapi.Identifier{Type: node.Kind, ID: node.ID})
	stepIDs := make([]jsonapi.Identifier, len(steps))
	for i := range steps {
		stepIDs[i] = jsonapi.Identifier{Type: "step", ID: steps[i].ID}
	}
	rels := map[string]*jsonapi.Relationship{
		"parents":      jsonapi.ToMany(parents),
		"steps":        jsonapi.ToMany(stepIDs),
		"workflow_run": jsonapi.ToNull(""),
		"workflow":     jsonapi.ToNull(""),
	}
	if c.WorkflowRunID != nil {
		rels["workflow_run"] = jsonapi.ToOne("workflow_run", *c.WorkflowRunID, "")
		if wf, ok := cc.Runs[*c.WorkflowRunID]; ok {
			rels["workflow"] = jsonapi.ToOne("workflow", wf, "")
		}
	}
	if len(steps) > 0 {
		rels["root_step"] = jsonapi.ToOne("step", steps[0].ID, "/api/steps/"+steps[0].ID)
	}
	projectPath := "/api/projects/" + project.Code
	if c.TemplateVersionID != nil {
		if ref, ok := cc.Versions[*c.TemplateVersionID]; ok && ref.Template != nil {
			rels["template_version"] = jsonapi.ToOne("template_version", ref.Version.ID,
				projectPath+"/templates/"+ref.Template.Code+"/versions/"+ref.Version.Version)
		}
	}
	if c.MintmodelID != nil {
		rels["mintmodel"] = jsonapi.ToOne("mintmodel", *c.MintmodelID, nodeLink(node)+"/mintmodels/"+*c.MintmodelID)
	}
	links := map[string]string{
		"project":   projectPath,
		"parent":    nodeLink(node),
		"self":      changeLink(node.Path, c.ID),
		"log_lines": "/api/changes/" + c.ID + "/log_lines",
	}
	if c.GitRemoteID != nil {
		links["git_remote"] = projectPath + "/git_remotes/" + *c.GitRemoteID
	}
	meta := map[string]any{}
	if info, ok := cc.Queue[c.ID]; ok {
		blockers := info.BlockedByQueue
		if blockers == nil {
			blockers = []string{}
		}
		meta["parallel_changes_allowed"] = info.ParallelChangesAllowed
		meta["blocked_by_change_in_same_parent"] = info.BlockedByChangeInSameParent
		meta["blocked_by_queue"] = blockers
	}
	return &jsonapi.Resource{Type: "change", ID: c.ID, Attributes: attrs, Relationships: rels, Links: links, Meta: meta}
}

func orEmptyMap(m model.JSONMap) model.JSONMap {
	if m == nil {
		return model.JSONMap{}
	}
	return m
}

// stepResource renders a step; changePath is its change's node path,
// children and versions its child step and property version ids.
func stepResource(st *run.Step, changeNodePath string, children, versions []string) *jsonapi.Resource {
	self := "/api/steps/" + st.ID
	kids := make([]jsonapi.Identifier, len(children))
	for i, id := range children {
		kids[i] = jsonapi.Identifier{Type: "step", ID: id}
	}
	pv := make([]jsonapi.Identifier, len(versions))
	for i, id := range versions {
		pv[i] = jsonapi.Identifier{Type: "properties_version", ID: id}
	}
	links := map[string]string{
		"self":      self,
		"parent":    "/api/changes/" + st.ChangeID,
		"change":    changeLink(changeNodePath, st.ChangeID),
		"log_lines": self + "/log_lines",
	}
	if st.Status == run.StatusWaiting {
		if st.RequiresApprovalFrom != nil {
			links["approve"], links["reject"] = self+"/approve", self+"/reject"
		} else {
			links["continue"] = self + "/continue"
		}
	}
	return &jsonapi.Resource{Type: "step", ID: st.ID,
		Attributes: &stepAttributes{ApprovedBy: stepActors(st.ApprovedBy), RejectedBy: stepActors(st.RejectedBy),
			ContinuedBy: stepActors(st.ContinuedBy), RequiresApprovalFrom: st.RequiresApprovalFrom,
			Action: st.Action, Name: st.Name, StepType: st.StepType, ChildExecutionStrategy: st.ChildExecutionStrategy,
			ChangeID: st.ChangeID, SkipOnRetry: st.SkipOnRetry, CreatedAt: jsonapi.Timestamp(st.CreatedAt),
			StartedAt: jsonapi.TimestampPtr(st.StartedAt), FinishedAt: jsonapi.TimestampPtr(st.FinishedAt),
			UpdatedAt: jsonapi.Timestamp(st.UpdatedAt), StatusCode: st.Status},
		Relationships: map[string]*jsonapi.Relationship{
			"children":            jsonapi.ToMany(kids),
			"change":              jsonapi.ToOne("change", st.ChangeID, ""),
			"properties_versions": jsonapi.ToMany(pv),
		},
		Links: links}
}

// renderSteps renders steps (of any changes) with their children and
// property versions.
func (a *API) renderSteps(ctx context.Context, steps []*run.Step) ([]*jsonapi.Resource, error) {
	v, err := a.Store.ViewSteps(ctx, steps)
	if err != nil {
		return nil, err
	}
	out := make([]*jsonapi.Resource, len(steps))
	for i, st := range steps {
		out[i] = stepResource(st, v.NodePaths[st.ChangeID], v.Children[st.ID], v.PropertyVersions[st.ID])
	}
	return out, nil
}

// changeIncluded renders the include paths of a change document: steps
// (every step of the changes) and parents (their nodes and ancestors).
func (a *API) changeIncluded(ctx context.Context, changes []*run.Change, cc *run.ChangeView, include []string) ([]*jsonapi.Resource, error) {
	out := []*jsonapi.Resource{}
	for _, path := range include {
		switch path {
		case "steps":
			var steps []*run.Step
			for _, c := range changes {
				for i := range cc.Steps[c.ID] {
					steps = append(steps, &cc.Steps[c.ID][i])
				}
			}
			res, err := a.renderSteps(ctx, steps)
			if err != nil {
				return nil, err
			}
			out = append(out, res...)
		case "parents":
			var nodes []*model.Node
			seen := map[string]bool{}
			for _, c := range changes {
				node := cc.Nodes[c.NodeID]
				for _, p := range append(parentIDs(node), jsonapi.Identifier{ID: node.ID}) {
					if n := cc.Nodes[p.ID]; n != nil && !seen[n.ID] && model.CanRead(ctx, n.Path) {
						seen[n.ID] = true
						nodes = append(nodes, n)
					}
				}
			}
			res, _, err := a.renderNodes(ctx, nodes, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, res...)
		}
	}
	return out, nil
}
