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

// changeContext is what rendering changes needs besides the rows: their
// nodes and ancestors, steps, template versions and queue facts.
type changeContext struct {
	nodes    map[string]*model.Node
	steps    map[string][]run.Step // by change id, in position order
	versions map[string]model.VersionRef
	queue    map[string]run.QueueInfo
}

// loadChangeContext loads the context for changes; queue info is asked of
// the engine only for the changes wantQueue selects (it costs queries).
func (a *API) loadChangeContext(ctx context.Context, changes []*run.Change, wantQueue func(*run.Change) bool) (*changeContext, error) {
	cc := &changeContext{queue: map[string]run.QueueInfo{}}
	var nodeIDs, changeIDs, versionIDs []string
	for _, c := range changes {
		nodeIDs = append(nodeIDs, c.NodeID)
		changeIDs = append(changeIDs, c.ID)
		if c.TemplateVersionID != nil {
			versionIDs = append(versionIDs, *c.TemplateVersionID)
		}
	}
	var err error
	if cc.nodes, err = a.nodesWithAncestors(ctx, nodeIDs); err != nil {
		return nil, err
	}
	if cc.steps, err = a.Store.ChangeSteps(ctx, changeIDs); err != nil {
		return nil, err
	}
	if cc.versions, err = a.Store.VersionRefs(ctx, versionIDs); err != nil {
		return nil, err
	}
	for _, c := range changes {
		if wantQueue != nil && wantQueue(c) {
			info, err := a.Store.ChangeQueueInfo(ctx, c)
			if err != nil {
				return nil, err
			}
			cc.queue[c.ID] = info
		}
	}
	return cc, nil
}

// nodesWithAncestors loads nodes by id plus their project and parent.
func (a *API) nodesWithAncestors(ctx context.Context, ids []string) (map[string]*model.Node, error) {
	nodes, err := a.Store.NodesByID(ctx, dedupeIDs(ids))
	if err != nil {
		return nil, err
	}
	var more []string
	for _, n := range nodes {
		for _, id := range []*string{n.ProjectID, n.ParentID} {
			if id != nil && nodes[*id] == nil {
				more = append(more, *id)
			}
		}
	}
	extra, err := a.Store.NodesByID(ctx, dedupeIDs(more))
	if err != nil {
		return nil, err
	}
	for id, n := range extra {
		nodes[id] = n
	}
	return nodes, nil
}

func dedupeIDs(ids []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// changeLineage is the change's node with its project and environment (nil
// when the node sits in none).
func (cc *changeContext) lineage(c *run.Change) (node, project, env *model.Node) {
	node = cc.nodes[c.NodeID]
	if node == nil {
		return nil, nil, nil
	}
	project = node
	if node.ProjectID != nil {
		project = cc.nodes[*node.ProjectID]
	}
	switch {
	case node.Kind == model.KindEnvironment:
		env = node
	case node.Kind == model.KindAsset && node.ParentID != nil && *node.ParentID != *node.ProjectID:
		env = cc.nodes[*node.ParentID]
	}
	return node, project, env
}

func changeResource(c *run.Change, cc *changeContext) *jsonapi.Resource {
	node, project, env := cc.lineage(c)
	steps := cc.steps[c.ID]
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
	if len(steps) > 0 {
		rels["root_step"] = jsonapi.ToOne("step", steps[0].ID, "/api/steps/"+steps[0].ID)
	}
	projectPath := "/api/projects/" + project.Code
	if c.TemplateVersionID != nil {
		if ref, ok := cc.versions[*c.TemplateVersionID]; ok && ref.Template != nil {
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
	if info, ok := cc.queue[c.ID]; ok {
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
	ids := make([]string, len(steps))
	changeIDs := make([]string, len(steps))
	for i, st := range steps {
		ids[i], changeIDs[i] = st.ID, st.ChangeID
	}
	children, err := a.Store.StepChildren(ctx, ids)
	if err != nil {
		return nil, err
	}
	versions, err := a.Store.StepPropertyVersions(ctx, ids)
	if err != nil {
		return nil, err
	}
	paths, err := a.changeNodePaths(ctx, dedupeIDs(changeIDs))
	if err != nil {
		return nil, err
	}
	out := make([]*jsonapi.Resource, len(steps))
	for i, st := range steps {
		out[i] = stepResource(st, paths[st.ChangeID], children[st.ID], versions[st.ID])
	}
	return out, nil
}

// changeNodePaths maps change ids to the paths of their nodes.
func (a *API) changeNodePaths(ctx context.Context, changeIDs []string) (map[string]string, error) {
	changes, err := a.Store.ChangesByID(ctx, changeIDs)
	if err != nil {
		return nil, err
	}
	nodeIDs := make([]string, 0, len(changes))
	for _, c := range changes {
		nodeIDs = append(nodeIDs, c.NodeID)
	}
	nodes, err := a.Store.NodesByID(ctx, dedupeIDs(nodeIDs))
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(changes))
	for id, c := range changes {
		if n := nodes[c.NodeID]; n != nil {
			out[id] = n.Path
		}
	}
	return out, nil
}

// changeIncluded renders the include paths of a change document: steps
// (every step of the changes) and parents (their nodes and ancestors).
func (a *API) changeIncluded(ctx context.Context, changes []*run.Change, cc *changeContext, include []string) ([]*jsonapi.Resource, error) {
	out := []*jsonapi.Resource{}
	for _, path := range include {
		switch path {
		case "steps":
			var steps []*run.Step
			for _, c := range changes {
				for i := range cc.steps[c.ID] {
					steps = append(steps, &cc.steps[c.ID][i])
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
				node := cc.nodes[c.NodeID]
				for _, p := range append(parentIDs(node), jsonapi.Identifier{ID: node.ID}) {
					if n := cc.nodes[p.ID]; n != nil && !seen[n.ID] {
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
