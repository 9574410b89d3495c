package handler_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
)

// schedBody is a scheduled change document: hello on origin/main every
// minute, plus attrs (a nil value removes the attribute).
func schedBody(attrs map[string]any) map[string]any {
	a := map[string]any{"action": "build", "git_remote_name": "origin", "git_rev": "main", "cron_schedule": "*/1 * * * *", "repeat": true}
	for k, v := range attrs {
		if v == nil {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return testutil.Attrs("", a)
}

func TestScheduledActivitiesCRUD(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	clock := testutil.NewClock(time.Date(2025, 6, 2, 10, 0, 30, 0, time.UTC))
	s.Store.Now, s.Store.Git.Now = clock.Now, clock.Now
	chgServer(t, s)

	// The three ways to name the node: parent_path, the codes, the URL.
	byPath := s.Post(t, "/api/scheduled_activities", schedBody(map[string]any{"parent_path": "/projects/opc/environments/dev",
		"timezone": "Europe/London", "metadata": map[string]any{"ticket": "OPS-1"}})).Expect(t, http.StatusCreated)
	d := byPath.Data(t)
	id := d["id"].(string)
	if byPath.Header.Get("Location") != "/api/scheduled_activities/"+id {
		t.Fatalf("Location %q", byPath.Header.Get("Location"))
	}
	attrs := d["attributes"].(map[string]any)
	if d["type"] != "scheduled_change" || attrs["environment_code"] != "dev" || attrs["project_code"] != "opc" ||
		attrs["next_run_at"] != "2025-06-02T10:01:00.000000Z" || attrs["timezone"] != "Europe/London" || attrs["enabled"] != true ||
		attrs["created_by"] != "admin" || attrs["metadata"].(map[string]any)["ticket"] != "OPS-1" {
		t.Fatalf("created: %s", byPath.Body)
	}
	s.Post(t, "/api/scheduled_activities", schedBody(map[string]any{"project_code": "opc", "cron_schedule": "@daily"})).
		Expect(t, http.StatusCreated)
	s.Post(t, chgEnv+"/scheduled_activities", schedBody(map[string]any{"repeat": false})).Expect(t, http.StatusCreated)
	asset := s.Post(t, chgEnv+"/assets/db/scheduled_activities", schedBody(nil)).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if asset["source"].(map[string]any)["pointer"] != "/data/attributes/git_remote_name" {
		t.Fatalf("asset given a remote: %v", asset)
	}

	show := s.Get(t, "/api/scheduled_activities/"+id+"?include=parents").Expect(t, http.StatusOK).JSON(t)
	runs := show["meta"].(map[string]any)["next_runs"].([]any)
	if len(runs) != 5 || runs[0] != "2025-06-02T10:01:00.000000Z" || runs[4] != "2025-06-02T10:05:00.000000Z" {
		t.Fatalf("next_runs %v", runs)
	}
	if inc := show["included"].([]any); len(inc) != 2 {
		t.Fatalf("included %v", inc)
	}

	if n := len(s.Get(t, "/api/scheduled_activities").Expect(t, http.StatusOK).List(t)); n != 3 {
		t.Fatalf("%d activities listed", n)
	}
	if n := len(s.Get(t, chgEnv+"/scheduled_activities").Expect(t, http.StatusOK).List(t)); n != 2 {
		t.Fatalf("%d activities on dev", n)
	}
	if n := len(s.Get(t, "/api/scheduled_activities?filter[environment_code_null]=true").Expect(t, http.StatusOK).List(t)); n != 1 {
		t.Fatalf("%d project activities", n)
	}
	if n := len(s.Get(t, "/api/scheduled_activities?filter[repeat_eq]=false").Expect(t, http.StatusOK).List(t)); n != 1 {
		t.Fatalf("%d one-shots", n)
	}

	// PATCH: disable (next_run_at null, next_runs empty), then move the schedule.
	off := s.Patch(t, "/api/scheduled_activities/"+id, testutil.Attrs("", map[string]any{"enabled": false})).Expect(t, http.StatusOK).JSON(t)
	if off["data"].(map[string]any)["attributes"].(map[string]any)["next_run_at"] != nil || len(off["meta"].(map[string]any)["next_runs"].([]any)) != 0 {
		t.Fatalf("disabled: %v", off)
	}
	moved := s.Patch(t, "/api/scheduled_activities/"+id, testutil.Attrs("scheduled_change", map[string]any{"enabled": true, "cron_schedule": "0 12 * * *"})).
		Expect(t, http.StatusOK).Data(t)
	if moved["attributes"].(map[string]any)["next_run_at"] != "2025-06-02T11:00:00.000000Z" { // 12:00 BST
		t.Fatalf("moved: %v", moved)
	}

	// Due: the store's scheduler machinery makes the scheduled change.
	clock.Advance(31 * time.Second)
	if _, err := schedule.New(s.Store, nil).RunDue(t.Context(), clock.Now(), schedule.DueOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Get(t, "/api/changes?filter[scheduled_eq]=true").Expect(t, http.StatusOK).List(t)); n != 1 {
		t.Fatalf("%d scheduled changes", n)
	}

	s.Delete(t, "/api/scheduled_activities/"+id).Expect(t, http.StatusNoContent)
	s.Get(t, "/api/scheduled_activities/"+id).Expect(t, http.StatusNotFound)
	s.Delete(t, "/api/scheduled_activities/"+id).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/scheduled_activities/not-an-id").Expect(t, http.StatusNotFound)
}

func TestScheduledActivityBadInput(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	cases := []struct {
		name    string
		path    string
		attrs   map[string]any
		pointer string
		code    string
	}{
		{"invalid cron", "", map[string]any{"cron_schedule": "99 * * * *"}, "cron_schedule", "invalid_cron_schedule"},
		{"six fields", "", map[string]any{"cron_schedule": "0 */5 * * * *"}, "cron_schedule", "invalid_cron_schedule"},
		{"unknown timezone", "", map[string]any{"timezone": "Europe/Nowhere"}, "timezone", "unknown_timezone"},
		{"unknown action", "", map[string]any{"action": "nope"}, "action", "unknown_action"},
		{"repeat not boolean", "", map[string]any{"repeat": "yes"}, "repeat", "invalid_type"},
		{"repeat missing", "", map[string]any{"repeat": nil}, "repeat", ""},
		{"archived node", "", map[string]any{"parent_path": "/projects/opc/environments/old"}, "parent_path", "archived_node"},
		{"unknown node code", "", map[string]any{"environment_code": "nope"}, "environment_code", "unknown_node"},
		{"unknown workflow", "", map[string]any{"action": nil, "git_remote_name": nil, "git_rev": nil, "workflow_code": "assets"}, "workflow_code", ""},
		{"parent_path below a node", chgEnv, map[string]any{"parent_path": "/projects/opc"}, "parent_path", "not_allowed"},
		{"archived node in the URL", chgProject + "/environments/old", nil, "", "archived_node"},
		{"bad misfire", "", map[string]any{"misfire": "maybe"}, "misfire", "invalid_misfire"},
		{"unknown attribute", "", map[string]any{"seconds": 5}, "seconds", "unknown_attribute"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			attrs := c.attrs
			if path == "" {
				path = "/api/scheduled_activities"
				if _, ok := attrs["parent_path"]; !ok {
					if _, ok := attrs["environment_code"]; !ok {
						attrs["project_code"] = "opc"
						attrs["environment_code"] = "dev"
					} else {
						attrs["project_code"] = "opc"
					}
				}
			} else {
				path += "/scheduled_activities"
			}
			e := s.Post(t, path, schedBody(attrs)).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
			if c.code != "" && e["code"] != c.code {
				t.Fatalf("code %v, want %s: %v", e["code"], c.code, e)
			}
			if c.pointer != "" && e["source"].(map[string]any)["pointer"] != "/data/attributes/"+c.pointer {
				t.Fatalf("pointer %v, want %s", e["source"], c.pointer)
			}
		})
	}
	if n := len(s.Get(t, "/api/scheduled_activities").Expect(t, http.StatusOK).List(t)); n != 0 {
		t.Fatalf("%d activities after refused creates", n)
	}
}

// A scheduled change fires and runs to the end on the engine, marked
// scheduled. RunDue is called for the activity's own fire time, so the test
// waits for nothing but the engine.
func TestScheduledChangeRunsOnTheEngine(t *testing.T) {
	t.Parallel()
	s := enginetest.NewServer(t)
	chgServer(t, s)
	d := s.Post(t, chgEnv+"/scheduled_activities", schedBody(map[string]any{"action": "build", "repeat": false})).
		Expect(t, http.StatusCreated).Data(t)
	due, err := time.Parse(time.RFC3339Nano, d["attributes"].(map[string]any)["next_run_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	res, err := schedule.New(s.Store, nil).RunDue(t.Context(), due.Add(time.Second), schedule.DueOptions{})
	if err != nil || res.Fired != 1 {
		t.Fatalf("RunDue: %+v %v", res, err)
	}
	changes := s.Get(t, chgEnv+"/changes?filter[scheduled_eq]=true").Expect(t, http.StatusOK).List(t)
	if len(changes) != 1 {
		t.Fatalf("%d scheduled changes", len(changes))
	}
	id := changes[0].(map[string]any)["id"].(string)
	if c := testutil.WaitChange(t, s.Store, id, run.StatusSuccess, run.StatusError); c.Status != run.StatusSuccess || !c.Scheduled {
		t.Fatalf("scheduled change ended %s (scheduled %v)", c.Status, c.Scheduled)
	}
	shown := s.Get(t, "/api/scheduled_activities/"+d["id"].(string)).Expect(t, http.StatusOK).Data(t)
	if a := shown["attributes"].(map[string]any); a["enabled"] != false || a["next_run_at"] != nil {
		t.Fatalf("one-shot after firing: %v", a)
	}
}

func TestScheduledWorkflowDocument(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	project, err := s.Store.NodeByPath(t.Context(), "/projects/opc")
	if err != nil {
		t.Fatal(err)
	}
	draft, name := false, "Nightly"
	if _, err := s.Store.CreateWorkflow(t.Context(), model.SystemActor, project, model.WorkflowInput{Code: "nightly", Name: &name,
		Draft: &draft, Steps: json.RawMessage(`[{"type":"wait"}]`)}); err != nil {
		t.Fatal(err)
	}
	d := s.Post(t, chgProject+"/scheduled_activities", testutil.Attrs("scheduled_workflow", map[string]any{
		"workflow_code": "nightly", "cron_schedule": "@daily", "repeat": true})).Expect(t, http.StatusCreated).Data(t)
	attrs := d["attributes"].(map[string]any)
	links := d["links"].(map[string]any)
	if d["type"] != "scheduled_workflow" || attrs["workflow_code"] != "nightly" || attrs["version"] != 1.0 ||
		links["workflow"] != "/api/projects/opc/workflows/nightly" || links["workflow_version"] != "/api/projects/opc/workflows/nightly/versions/1" {
		t.Fatalf("scheduled workflow: %v", d)
	}
	s.Get(t, "/api/scheduled_activities/"+d["id"].(string)+"?include=parents").Expect(t, http.StatusOK)
	// The version the schedule names is kept: deleting it archives it.
	s.Patch(t, chgProject+"/workflows/nightly", testutil.Attrs("workflow", map[string]any{"name": "Nightly 2"})).Expect(t, http.StatusOK)
	s.Delete(t, chgProject+"/workflows/nightly/versions/1").Expect(t, http.StatusNoContent)
	v1 := s.Get(t, chgProject+"/workflows/nightly/versions/1").Expect(t, http.StatusOK).Data(t)
	if v1["attributes"].(map[string]any)["archived"] != true {
		t.Errorf("the scheduled version 1 after DELETE: %v, want it archived, not gone", v1["attributes"])
	}
	e := s.Post(t, chgEnv+"/scheduled_activities", testutil.Attrs("scheduled_workflow", map[string]any{
		"workflow_code": "nightly", "cron_schedule": "@daily", "repeat": true})).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if e["source"].(map[string]any)["pointer"] != "/data/attributes/workflow_code" {
		t.Fatalf("workflow below a project: %v", e)
	}
}
