package handler

import (
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// workflowContent is what a workflow and a workflow version both show: the
// version's definition, as steps and as source_yaml.
type workflowContent struct {
	Code        string              `json:"code"`
	Name        string              `json:"name"`
	Description string              `json:"description"` // the reference's is a string: none renders ""
	Draft       bool                `json:"draft"`
	Archived    bool                `json:"archived"`
	CreatedBy   string              `json:"created_by"`
	CreatedAt   string              `json:"created_at"`
	UpdatedAt   string              `json:"updated_at"`
	SourceYAML  string              `json:"source_yaml"`
	Steps       model.WorkflowSteps `json:"steps"`
}

type workflowAttributes struct {
	workflowContent
	LatestVersion          int  `json:"latest_version"`
	LatestPublishedVersion *int `json:"latest_published_version"`
}

type workflowVersionAttributes struct {
	workflowContent
	Version int `json:"version"`
}

func content(code string, v *model.WorkflowVersion) workflowContent {
	desc := ""
	if v.Description != nil {
		desc = *v.Description
	}
	steps := v.Steps
	if steps == nil {
		steps = model.WorkflowSteps{}
	}
	return workflowContent{Code: code, Name: v.Name, Description: desc, Draft: v.Draft, Archived: v.Archived,
		CreatedBy: v.CreatedBy, CreatedAt: jsonapi.Timestamp(v.CreatedAt), UpdatedAt: jsonapi.Timestamp(v.UpdatedAt),
		SourceYAML: v.SourceYAML, Steps: steps}
}

// workflowResource renders a workflow: its latest version's definition
// with the workflow's own archived flag, author and times.
func workflowResource(project *model.Node, w *model.WorkflowView) *jsonapi.Resource {
	c := content(w.Code, w.Latest)
	c.Archived, c.CreatedBy = w.Archived, w.CreatedBy
	c.CreatedAt, c.UpdatedAt = jsonapi.Timestamp(w.CreatedAt), jsonapi.Timestamp(w.UpdatedAt)
	self := workflowLink(project.Path, w.Code)
	published := jsonapi.NullLink
	if w.LatestPublished != nil {
		published = workflowVersionLink(project.Path, w.Code, *w.LatestPublished)
	}
	return &jsonapi.Resource{
		Type: "workflow", ID: w.ID,
		Attributes: &workflowAttributes{workflowContent: c, LatestVersion: w.Latest.Version, LatestPublishedVersion: w.LatestPublished},
		Links: map[string]string{"self": self, "runs": self + "/runs", "project": nodeLink(project), "versions": self + "/versions",
			"latest_version": workflowVersionLink(project.Path, w.Code, w.Latest.Version), "latest_published_version": published},
	}
}

func workflowVersionResource(project *model.Node, wf *model.Workflow, v *model.WorkflowVersion) *jsonapi.Resource {
	self := workflowVersionLink(project.Path, wf.Code, v.Version)
	return &jsonapi.Resource{
		Type: "workflow_version", ID: v.ID,
		Attributes: &workflowVersionAttributes{workflowContent: content(wf.Code, v), Version: v.Version},
		Links: map[string]string{"self": self, "runs": self + "/runs", "project": nodeLink(project),
			"workflow": workflowLink(project.Path, wf.Code)},
	}
}
