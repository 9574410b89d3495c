package handler_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

const wfColl = "/api/projects/opc/workflows"

// wfServer is tmplServer with template web at v1 and asset web using it.
func wfServer(t *testing.T) *tmplEnv {
	t.Helper()
	e := tmplServer(t)
	e.createTemplate(t)
	e.putVersion(t, "v1", "main")
	e.do(t, "POST", "/api/projects/opc/assets", testutil.Attrs("asset", map[string]any{
		"code": "web", "name": "Web", "template_name": "Web template", "template_version": "v1"})).Expect(t, http.StatusCreated)
	return e
}

func attrsOf(t *testing.T, r *testutil.Response) (map[string]any, map[string]any) {
	t.Helper()
	d := r.Data(t)
	return d["attributes"].(map[string]any), d["links"].(map[string]any)
}

func errorOf(t *testing.T, r *testutil.Response) (code, pointer, detail string) {
	t.Helper()
	e := r.JSON(t)["errors"].([]any)[0].(map[string]any)
	if src, ok := e["source"].(map[string]any); ok {
		pointer, _ = src["pointer"].(string)
	}
	return e["code"].(string), pointer, e["detail"].(string)
}

const wfYAML = `code: deploy
name: Deploy
description: Build, approve, ship
steps:
  - target: /projects/opc/assets/web
    action: build
  - type: wait
    requires_approval_from: ops
  - name: Ship
    targets: [/projects/opc/assets/web]
    action: deploy
`

func TestWorkflowsOverHTTP(t *testing.T) {
	t.Parallel()
	e := wfServer(t)
	s := e.s
	r := s.Post(t, wfColl, testutil.Attrs("workflow", map[string]any{"code": "deploy", "source_yaml": wfYAML})).Expect(t, http.StatusCreated)
	attrs, links := attrsOf(t, r)
	if r.Header.Get("Location") != wfColl+"/deploy" || attrs["name"] != "Deploy" || attrs["draft"] != true || attrs["source_yaml"] != wfYAML ||
		attrs["latest_version"] != 1.0 || attrs["latest_published_version"] != nil || links["latest_published_version"] != nil {
		t.Fatalf("created %s", r.Body)
	}
	steps := attrs["steps"].([]any)
	if stage := steps[2].(map[string]any); stage["run_as"] != "parallel" || stage["name"] != "Ship" || len(stage["children"].([]any)) != 1 {
		t.Fatalf("targets not fanned out: %v", stage)
	}
	// Taken code.
	r = s.Post(t, wfColl, testutil.Attrs("workflow", map[string]any{"code": "deploy", "name": "x", "steps": []any{map[string]any{"type": "wait"}}})).
		Expect(t, http.StatusUnprocessableEntity)
	if code, ptr, _ := errorOf(t, r); code != "taken" || ptr != "/data/attributes/code" {
		t.Fatalf("taken code: %s", r.Body)
	}
	// Publish in place, then an edit makes version 2.
	r = s.Patch(t, wfColl+"/deploy", testutil.Attrs("workflow", map[string]any{"draft": false})).Expect(t, http.StatusOK)
	if attrs, links = attrsOf(t, r); attrs["latest_published_version"] != 1.0 || links["latest_published_version"] != wfColl+"/deploy/versions/1" {
		t.Fatalf("published %s", r.Body)
	}
	r = s.Patch(t, wfColl+"/deploy", testutil.Attrs("workflow", map[string]any{"description": nil,
		"steps": []any{map[string]any{"type": "wait", "name": "Hold"}}})).Expect(t, http.StatusOK)
	if attrs, _ = attrsOf(t, r); attrs["latest_version"] != 2.0 || attrs["description"] != "" || !strings.Contains(attrs["source_yaml"].(string), "name: Hold") {
		t.Fatalf("edited %s", r.Body)
	}
	list := s.Get(t, wfColl+"/deploy/versions").Expect(t, http.StatusOK).List(t)
	if len(list) != 2 {
		t.Fatalf("%d versions, want 2", len(list))
	}
	v1 := s.Get(t, wfColl+"/deploy/versions/1").Expect(t, http.StatusOK).Data(t)
	if v1["attributes"].(map[string]any)["source_yaml"] != wfYAML || v1["links"].(map[string]any)["workflow"] != wfColl+"/deploy" {
		t.Fatalf("version 1: %v", v1)
	}
	s.Get(t, wfColl+"/deploy/versions/9").Expect(t, http.StatusNotFound)
	s.Get(t, wfColl+"/deploy/versions/x").Expect(t, http.StatusNotFound)
	if l := s.Get(t, wfColl+"?filter[code_eq]=deploy").Expect(t, http.StatusOK).List(t); len(l) != 1 {
		t.Fatalf("list: %v", l)
	}
	csv := s.Get(t, wfColl+"?download=workflows.csv").Expect(t, http.StatusOK)
	if !strings.HasPrefix(string(csv.Body), "id,code,archived") || !strings.Contains(string(csv.Body), ",deploy,false,admin,") {
		t.Fatalf("csv: %s", csv.Body)
	}
	// The project's workflows link answers.
	if l := s.Get(t, "/api/projects/opc").Data(t)["links"].(map[string]any)["workflows"]; l != wfColl {
		t.Fatalf("project links workflows at %v", l)
	}
	// DELETE rules over the wire.
	s.Delete(t, wfColl+"/deploy/versions").Expect(t, http.StatusNoContent)
	s.Delete(t, wfColl+"/deploy/versions/1").Expect(t, http.StatusNoContent)
	r = s.Delete(t, wfColl+"/deploy/versions/2").Expect(t, http.StatusUnprocessableEntity)
	if code, _, _ := errorOf(t, r); code != "last_version" {
		t.Fatalf("deleting the last version: %s", r.Body)
	}
	s.Delete(t, wfColl+"/deploy").Expect(t, http.StatusNoContent)
	s.Get(t, wfColl+"/deploy").Expect(t, http.StatusNotFound)
	events := s.Get(t, "/api/events?limit=50&filter[type_start]=api:workflow").Expect(t, http.StatusOK).List(t)
	if len(events) != 5 {
		t.Fatalf("%d workflow events, want 5 (create, 2 updates, a version delete, delete)", len(events))
	}
}

func TestWorkflowErrorsOverHTTP(t *testing.T) {
	t.Parallel()
	e := wfServer(t)
	s := e.s
	wait := map[string]any{"type": "wait"}
	for _, c := range []struct {
		name          string
		attrs         map[string]any
		code, pointer string
		detail        string
	}{
		{"bad nested step", map[string]any{"steps": []any{wait, wait, map[string]any{"name": "s", "run_as": "sequential", "children": []any{
			map[string]any{"type": "change", "target": "/projects/opc/assets/web"}}}}},
			"required", "/data/attributes/steps/2/children/0/action", "action"},
		{"unknown action", map[string]any{"steps": []any{map[string]any{"target": "/projects/opc/assets/web", "action": "explode"}}},
			"unknown_action", "/data/attributes/steps/0/action", "build, deploy"},
		{"environment target", map[string]any{"steps": []any{map[string]any{"target": "/projects/opc/environments/dev", "action": "build"}}},
			"target_not_asset", "/data/attributes/steps/0/target", "asset"},
		{"yaml tab", map[string]any{"source_yaml": "name: x\nsteps:\n\t- type: wait\n"}, "invalid_yaml", "/data/attributes/source_yaml", "line 3, column 1"},
		{"yaml duplicate", map[string]any{"source_yaml": "name: x\nname: y\nsteps:\n  - type: wait\n"}, "invalid_yaml", "/data/attributes/source_yaml", "line 2, column 1"},
		{"yaml unknown key", map[string]any{"source_yaml": "name: x\nsteps:\n  - type: wait\n    when: now\n"}, "invalid_yaml", "/data/attributes/source_yaml", "line 4, column 5"},
		{"no definition", map[string]any{"name": "x"}, "required", "/data/attributes/steps", "steps"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.attrs["code"] = "bad"
			if _, ok := c.attrs["name"]; !ok {
				c.attrs["name"] = "Bad"
			}
			r := s.Post(t, wfColl, testutil.Attrs("workflow", c.attrs)).Expect(t, http.StatusUnprocessableEntity)
			code, ptr, detail := errorOf(t, r)
			if code != c.code || ptr != c.pointer || !strings.Contains(detail, c.detail) {
				t.Fatalf("error %s, want %s at %s mentioning %q", r.Body, c.code, c.pointer, c.detail)
			}
		})
	}
}

func TestWorkflowFiveThousandStepsOverHTTP(t *testing.T) {
	t.Parallel()
	e := wfServer(t)
	var b strings.Builder
	b.WriteString(`{"data":{"type":"workflow","attributes":{"code":"big","name":"Big","draft":false,"steps":[`)
	for i := 0; i < 50; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"stage %d","run_as":"parallel","children":[`, i)
		for j := 0; j < 99; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"target":"/projects/opc/assets/web","action":"build","name":"b%d"}`, j)
		}
		b.WriteString("]}")
	}
	b.WriteString("]}}}")
	e.s.Do(t, testutil.Request{Method: "POST", Path: wfColl, Body: b.String()}).Expect(t, http.StatusCreated)
	attrs, _ := attrsOf(t, e.s.Get(t, wfColl+"/big").Expect(t, http.StatusOK))
	if n := len(attrs["steps"].([]any)); n != 50 {
		t.Fatalf("%d top-level steps, want 50", n)
	}
}
