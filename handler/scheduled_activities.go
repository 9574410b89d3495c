package handler

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/schedule"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

var (
	activityIncludes   = []string{"parents"}
	activityListSpec   = &jsonapi.Spec{List: true, Keyset: "id", Filters: schedule.ActivityFilters, Includes: activityIncludes}
	activityItemSpec   = &jsonapi.Spec{Includes: activityIncludes}
	activityCSVColumns = []string{"action", "cron_schedule", "timezone", "repeat", "enabled", "new_commits_only",
		"next_run_at", "project_code", "environment_code", "asset_code", "git_remote_name", "git_rev", "metadata",
		"created_by", "created_at"}
	activityTargetAttributes = []string{"parent_path", "project_code", "environment_code", "asset_code"}
	activityCreateAttributes = append([]string{"action", "workflow_code", "version", "git_remote_name", "git_rev",
		"cron_schedule", "timezone", "repeat", "enabled", "new_commits_only", "misfire", "misfire_deadline_seconds",
		"metadata", "property_overrides"}, activityTargetAttributes...)
	activityUpdateAttributes = []string{"enabled", "cron_schedule", "timezone", "misfire"}
)

// nextRunsShown is how many upcoming fire times a show lists in meta.next_runs.
const nextRunsShown = 5

func (a *API) routeScheduledActivities(r *mux.Router) {
	r.HandleFunc("/api/scheduled_activities", a.handle(a.listActivities)).Methods(http.MethodGet)
	r.HandleFunc("/api/scheduled_activities", a.handle(a.createActivity)).Methods(http.MethodPost)
	r.HandleFunc("/api/scheduled_activities/{activity_id}", a.handle(a.showActivity)).Methods(http.MethodGet)
	r.HandleFunc("/api/scheduled_activities/{activity_id}", a.handle(a.updateActivity)).Methods(http.MethodPatch)
	r.HandleFunc("/api/scheduled_activities/{activity_id}", a.handle(a.deleteActivity)).Methods(http.MethodDelete)
	for _, prefix := range nodePrefixes {
		r.HandleFunc(prefix+"/scheduled_activities", a.handle(a.listActivities)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/scheduled_activities", a.handle(a.createActivity)).Methods(http.MethodPost)
	}
}

// schedules is the schedule store over this API's (possibly snapshot) store.
func (a *API) schedules() *schedule.Store { return schedule.New(a.Store, a.Workflows) }

func (a *API) listActivities(w http.ResponseWriter, r *http.Request) error {
	q, node, err := a.parentInScope(r, activityListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.schedules().ActivityList()
	if node != nil {
		src = a.schedules().NodeActivityList(node)
	}
	l, written, err := listPage(a, w, r, q, src, activityCSVColumns, a.activityCSVRow(ctx),
		func(v *API, acts []*schedule.Activity) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
			return v.renderActivities(ctx, acts, q.Include)
		})
	if written || err != nil {
		return err
	}
	return renderListWithHasAny(w, r, q, l, src)
}

// renderActivity renders one activity with meta.next_runs, from one snapshot.
func (a *API) renderActivity(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, status int, act *schedule.Activity) error {
	var data, included []*jsonapi.Resource
	err := a.snapshot(r.Context(), func(v *API) (err error) {
		data, included, err = v.renderActivities(r.Context(), []*schedule.Activity{act}, q.Include)
		return err
	})
	if err != nil {
		return err
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", data[0].Links["self"])
	}
	runs := []string{}
	for _, t := range schedule.NextRuns(act, nextRunsShown) {
		runs = append(runs, jsonapi.Timestamp(t))
	}
	jsonapi.Render(w, status, jsonapi.Document{Data: data[0], Included: included, Meta: map[string]any{"next_runs": runs}}, q)
	return nil
}

func (a *API) showActivity(w http.ResponseWriter, r *http.Request) error {
	return a.snapshot(r.Context(), func(a *API) error {
		q, err := jsonapi.ParseQuery(r, activityItemSpec)
		if err != nil {
			return err
		}
		act, err := a.schedules().Get(r.Context(), mux.Vars(r)["activity_id"])
		if err != nil {
			return err
		}
		return a.renderActivity(w, r, q, http.StatusOK, act)
	})
}

func (a *API) createActivity(w http.ResponseWriter, r *http.Request) error {
	q, node, err := a.parentInScope(r, activityItemSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, activityType(r), activityCreateAttributes)
	if err != nil {
		return err
	}
	var in schedule.Input
	var parentPath, project, environment, asset string
	var metadata, overrides map[string]any
	var version, deadline int
	if err := steward.First(
		body.NoClientID(),
		body.Require("cron_schedule", "repeat"),
		body.String("cron_schedule", &in.CronSchedule),
		body.Bool("repeat", &in.Repeat),
		body.NullableString("action", &in.Action),
		body.NullableString("workflow_code", &in.WorkflowCode),
		body.Int("version", &version),
		body.NullableString("git_remote_name", &in.GitRemoteName),
		body.NullableString("git_rev", &in.GitRev),
		body.NullableString("timezone", &in.Timezone),
		body.Bool("new_commits_only", &in.NewCommitsOnly),
		body.NullableString("misfire", &in.Misfire),
		body.Int("misfire_deadline_seconds", &deadline),
		body.Object("metadata", &metadata),
		body.Object("property_overrides", &overrides),
		body.String("parent_path", &parentPath),
		body.String("project_code", &project),
		body.String("environment_code", &environment),
		body.String("asset_code", &asset),
	); err != nil {
		return err
	}
	if body.Has("enabled") {
		var on bool
		if err := body.Bool("enabled", &on); err != nil {
			return err
		}
		in.Enabled = &on
	}
	if body.Has("version") {
		in.WorkflowVersion = &version
	}
	if body.Has("misfire_deadline_seconds") {
		in.MisfireDeadlineSeconds = &deadline
	}
	in.Metadata, in.PropertyOverrides = metadata, overrides
	if node, err = a.activityTarget(r, body, node, parentPath, project, environment, asset); err != nil {
		return err
	}
	act, err := a.schedules().Create(r.Context(), actorOf(r), node, in)
	if err != nil {
		return err
	}
	return a.renderActivity(w, r, q, http.StatusCreated, act)
}

// activityType is the data.type a create may name: scheduled_workflow when
// the document says so, else scheduled_change. Both kinds share the
// endpoint, so the body is read here and handed on to DecodeBody whole
// (with the read's error, so an oversized body is still a 413).
func activityType(r *http.Request) string {
	raw, err := io.ReadAll(r.Body)
	var rest io.Reader = bytes.NewReader(raw)
	if err != nil {
		rest = io.MultiReader(rest, errReader{err}) // idempotency.go's
	}
	r.Body = io.NopCloser(rest)
	var doc struct {
		Data struct {
			Type string `json:"type"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &doc) == nil && doc.Data.Type == "scheduled_workflow" {
		return "scheduled_workflow"
	}
	return "scheduled_change"
}

// activityTarget is the node a new activity runs on: the node in the URL,
// else parent_path, else the codes.
func (a *API) activityTarget(r *http.Request, body *jsonapi.Body, node *model.Node, parentPath, project, environment, asset string) (*model.Node, error) {
	if node != nil {
		for _, k := range activityTargetAttributes {
			if body.Has(k) {
				return nil, steward.Invalid(k, "not_allowed", "%s must be left out here: the activity runs on %s, the node in the URL", k, node.Path)
			}
		}
		return node, nil
	}
	if body.Has("parent_path") {
		return a.Store.ChangeTarget(r.Context(), parentPath)
	}
	return a.schedules().Target(r.Context(), project, environment, asset)
}

func (a *API) updateActivity(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, activityItemSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "scheduled_change", activityUpdateAttributes)
	if err != nil {
		return err
	}
	var in schedule.Update
	var enabled bool
	var expr string
	if err := steward.First(
		body.Bool("enabled", &enabled),
		body.String("cron_schedule", &expr),
		body.NullableString("timezone", &in.Timezone),
		body.NullableString("misfire", &in.Misfire),
	); err != nil {
		return err
	}
	if body.Has("enabled") {
		in.Enabled = &enabled
	}
	if body.Has("cron_schedule") {
		in.CronSchedule = &expr
	}
	act, err := a.schedules().Modify(r.Context(), actorOf(r), mux.Vars(r)["activity_id"], in)
	if err != nil {
		return err
	}
	return a.renderActivity(w, r, q, http.StatusOK, act)
}

func (a *API) deleteActivity(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, &jsonapi.Spec{}); err != nil {
		return err
	}
	if err := a.schedules().Delete(r.Context(), actorOf(r), mux.Vars(r)["activity_id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
