package handler

import (
	"context"
	"strconv"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/schedule"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// scheduleAttributes are what scheduled_change and scheduled_workflow share:
// the reference's attributes, then Steward's extensions (timezone, misfire,
// misfire_deadline_seconds, property_overrides).
type scheduleAttributes struct {
	CreatedBy    string        `json:"created_by"`
	CronSchedule string        `json:"cron_schedule"`
	Repeat       bool          `json:"repeat"`
	Metadata     model.JSONMap `json:"metadata"`
	Enabled      bool          `json:"enabled"`
	CreatedAt    string        `json:"created_at"`
	NextRunAt    *string       `json:"next_run_at"`
	ProjectName  string        `json:"project_name"`
	ProjectCode  string        `json:"project_code"`

	Timezone               string        `json:"timezone"`
	Misfire                string        `json:"misfire"`
	MisfireDeadlineSeconds int           `json:"misfire_deadline_seconds"`
	PropertyOverrides      model.JSONMap `json:"property_overrides"`
}

type scheduledChangeAttributes struct {
	scheduleAttributes
	Action          string  `json:"action"`
	NewCommitsOnly  bool    `json:"new_commits_only"`
	GitRev          *string `json:"git_rev"`
	AssetCode       *string `json:"asset_code"`
	AssetName       *string `json:"asset_name"`
	EnvironmentCode *string `json:"environment_code"`
	EnvironmentName *string `json:"environment_name"`
	GitRemoteName   *string `json:"git_remote_name"`
}

type scheduledWorkflowAttributes struct {
	scheduleAttributes
	WorkflowCode string `json:"workflow_code"`
	Version      int    `json:"version"`
}

// activityLineage is the activity's node, its project and its environment
// (nil outside one), from nodes loaded with their ancestors.
func activityLineage(a *schedule.Activity, nodes map[string]*model.Node) (node, project, env *model.Node) {
	node = nodes[*a.NodeID]
	project = node
	if node.ProjectID != nil {
		project = nodes[*node.ProjectID]
	}
	switch {
	case node.Kind == model.KindEnvironment:
		env = node
	case node.Kind == model.KindAsset && node.ParentID != nil && *node.ParentID != *node.ProjectID:
		env = nodes[*node.ParentID]
	}
	return node, project, env
}

func activityResource(a *schedule.Activity, nodes map[string]*model.Node) *jsonapi.Resource {
	node, project, env := activityLineage(a, nodes)
	base := scheduleAttributes{CreatedBy: a.CreatedBy, CronSchedule: a.CronSchedule, Repeat: a.Repeat,
		Metadata: orEmptyMap(a.Metadata), Enabled: a.Enabled, CreatedAt: jsonapi.Timestamp(a.CreatedAt),
		NextRunAt: jsonapi.TimestampPtr(a.NextRunAt), ProjectName: project.Name, ProjectCode: project.Code,
		Timezone: a.Timezone, Misfire: a.Misfire, MisfireDeadlineSeconds: int(a.MisfireDeadline().Seconds()),
		PropertyOverrides: orEmptyMap(a.PropertyOverrides)}
	projectPath := "/api/projects/" + project.Code
	links := map[string]string{"project": projectPath, "parent": nodeLink(node), "self": "/api/scheduled_activities/" + a.ID}
	parents := append(parentIDs(node), jsonapi.Identifier{Type: node.Kind, ID: node.ID})
	rels := map[string]*jsonapi.Relationship{"parents": jsonapi.ToMany(parents)}
	if a.Kind == schedule.KindWorkflow {
		attrs := &scheduledWorkflowAttributes{scheduleAttributes: base}
		if a.WorkflowCode != nil {
			attrs.WorkflowCode = *a.WorkflowCode
			links["workflow"] = projectPath + "/workflows/" + *a.WorkflowCode
		}
		if a.WorkflowVersion != nil {
			attrs.Version = *a.WorkflowVersion
			links["workflow_version"] = links["workflow"] + "/versions/" + strconv.Itoa(*a.WorkflowVersion)
		}
		return &jsonapi.Resource{Type: "scheduled_workflow", ID: a.ID, Attributes: attrs, Relationships: rels, Links: links}
	}
	attrs := &scheduledChangeAttributes{scheduleAttributes: base, NewCommitsOnly: a.NewCommitsOnly,
		GitRev: a.GitRev, GitRemoteName: a.GitRemoteName}
	if a.Action != nil {
		attrs.Action = *a.Action
	}
	if env != nil {
		attrs.EnvironmentCode, attrs.EnvironmentName = &env.Code, &env.Name
	}
	if node.Kind == model.KindAsset {
		attrs.AssetCode, attrs.AssetName = &node.Code, &node.Name
	}
	if a.GitRemoteID != nil {
		links["git_remote"] = projectPath + "/git_remotes/" + *a.GitRemoteID
	}
	return &jsonapi.Resource{Type: "scheduled_change", ID: a.ID, Attributes: attrs, Relationships: rels, Links: links}
}

// renderActivities renders activities and, with include=parents, their
// nodes and the nodes' ancestors.
func (a *API) renderActivities(ctx context.Context, acts []*schedule.Activity, include []string) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
	ids := make([]string, 0, len(acts))
	for _, act := range acts {
		ids = append(ids, *act.NodeID)
	}
	nodes, err := a.Store.NodesWithAncestors(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	data := make([]*jsonapi.Resource, len(acts))
	for i, act := range acts {
		data[i] = activityResource(act, nodes)
	}
	if len(include) == 0 {
		return data, nil, nil
	}
	var parents []*model.Node
	seen := map[string]bool{}
	for _, act := range acts {
		node := nodes[*act.NodeID]
		for _, p := range append(parentIDs(node), jsonapi.Identifier{ID: node.ID}) {
			if n := nodes[p.ID]; n != nil && !seen[n.ID] && model.CanRead(ctx, n.Path) {
				seen[n.ID] = true
				parents = append(parents, n)
			}
		}
	}
	included, _, err := a.renderNodes(ctx, parents, nil)
	if included == nil {
		included = []*jsonapi.Resource{}
	}
	return data, included, err
}

// activityCSVRow renders activities as CSV rows (attributes only), loading
// each node once.
func (a *API) activityCSVRow(ctx context.Context) func(*schedule.Activity) *jsonapi.Resource {
	nodes := map[string]*model.Node{}
	return func(act *schedule.Activity) *jsonapi.Resource {
		if nodes[*act.NodeID] == nil {
			loaded, err := a.Store.NodesWithAncestors(ctx, []string{*act.NodeID})
			if err != nil || loaded[*act.NodeID] == nil {
				return &jsonapi.Resource{Type: "scheduled_change", ID: act.ID}
			}
			for id, n := range loaded {
				nodes[id] = n
			}
		}
		return activityResource(act, nodes)
	}
}
