package handler

import (
	"strconv"

	"github.com/stewardhq/steward/model"
)

// Links are built here and only here: the domain knows records by their
// paths (a node's /projects/p/environments/e, a change's /changes/<id>);
// the API serves each below /api.

// apiLink is the URL path of the record at path.
func apiLink(path string) string { return "/api" + path }

// nodeLink is a node's URL path.
func nodeLink(n *model.Node) string { return apiLink(n.Path) }

// changeLink is a change's URL path: below the node it runs on.
func changeLink(nodePath, changeID string) string { return apiLink(nodePath + "/changes/" + changeID) }

// eventSourceLink is the link of the record an event is about, nil when the
// event is about none.
func eventSourceLink(ev *model.Event) *string {
	if ev.SourcePath == nil {
		return nil
	}
	l := apiLink(*ev.SourcePath)
	return &l
}

// workflowLink is a workflow's URL path: below its project.
func workflowLink(projectPath, code string) string {
	return apiLink(projectPath + "/workflows/" + code)
}

// workflowRunLink is a run's URL path: below its workflow.
func workflowRunLink(projectPath, code, runID string) string {
	return workflowLink(projectPath, code) + "/runs/" + runID
}

// workflowStepLink is a run step's URL path: below its run.
func workflowStepLink(runLink, stepID string) string { return runLink + "/steps/" + stepID }

// workflowVersionLink is a workflow version's URL path: below its workflow.
func workflowVersionLink(projectPath, code string, version int) string {
	return workflowLink(projectPath, code) + "/versions/" + strconv.Itoa(version)
}
