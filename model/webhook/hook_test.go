package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	whmodel "github.com/stewardhq/steward/model/webhook"
)

// workflowProject is project opc with published workflow "release"
// (version 1: one approval wait, so a run needs no Git) and a draft
// version 2.
func workflowProject(t *testing.T, s *whmodel.Store) *model.Node {
	t.Helper()
	ctx := context.Background()
	project, err := s.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateNode(ctx, model.SystemActor, project, model.KindEnvironment, model.NodeInput{Code: "dev", Name: "Dev"}); err != nil {
		t.Fatal(err)
	}
	now := s.Now()
	wf := &model.Workflow{ID: model.NewID(), ProjectID: project.ID, Code: "release", CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	if err := s.DB.Create(wf).Error; err != nil {
		t.Fatal(err)
	}
	steps := model.WorkflowSteps{{Type: model.WorkflowStepWait, Name: "Approval"}}
	for _, v := range []*model.WorkflowVersion{
		{ID: model.NewID(), WorkflowID: wf.ID, Version: 1, Name: "Release", SourceYAML: "---\n", Steps: steps, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now},
		{ID: model.NewID(), WorkflowID: wf.ID, Version: 2, Name: "Release", SourceYAML: "---\n", Steps: steps, Draft: true, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now},
	} {
		if err := s.DB.Create(v).Error; err != nil {
			t.Fatal(err)
		}
	}
	return project
}

// adminActor is user admin (the superuser policy), as the hooks' creator.
func adminActor(t *testing.T, s *whmodel.Store) *model.Actor {
	t.Helper()
	ctx := context.Background()
	if err := s.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := s.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.ActorFor(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func signed(secret, body string) whmodel.Signed {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return whmodel.Signed{Body: []byte(body), Timestamp: ts, Signature: "sha256=" + hex.EncodeToString(m.Sum(nil))}
}

func ptr[T any](v T) *T { return &v }

// A workflow hook is checked at creation (a project, a runnable version,
// no change attributes) and its trigger creates a run of the workflow.
func TestWorkflowHook(t *testing.T) {
	ctx := context.Background()
	s := store(t)
	workflowProject(t, s)
	admin := adminActor(t, s)
	cases := []struct {
		name  string
		in    whmodel.HookInput
		field string
	}{
		{"not a project", whmodel.HookInput{ParentPath: "/projects/opc/environments/dev", WorkflowCode: ptr("release")}, "parent_path"},
		{"unknown workflow", whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("nope")}, "workflow_code"},
		{"unknown version", whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release"), WorkflowVersion: ptr(9)}, "version"},
		{"draft version", whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release"), WorkflowVersion: ptr(2)}, "version"},
		{"zero version", whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release"), WorkflowVersion: ptr(0)}, "version"},
		{"action too", whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release"), Action: "build"}, "workflow_code"},
		{"a rev", whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release"), GitRev: ptr("main")}, "workflow_code"},
		{"rev override", whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release"), AllowRevOverride: true}, "workflow_code"},
		{"neither", whmodel.HookInput{ParentPath: "/projects/opc"}, "action"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateHook(ctx, admin, tc.in)
			if e := steward.AsError(err); e == nil || e.Kind != steward.KindInvalid || e.Field != tc.field {
				t.Fatalf("err = %v, want invalid %s", err, tc.field)
			}
		})
	}
	h, err := s.CreateHook(ctx, admin, whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release"),
		PropertyOverrides: model.JSONMap{"from": "ci"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Trigger(ctx, h.ID, signed(h.PlainSecret, `{}`))
	if err != nil || got.Run == nil || got.Change != nil {
		t.Fatalf("trigger = %+v, %v", got, err)
	}
	var wr run.WorkflowRun
	s.DB.Take(&wr, "id = ?", got.Run.ID)
	if wr.CreatedBy != "admin" || wr.Metadata["hook_id"] != h.ID || wr.PropertyOverrides["from"] != "ci" {
		t.Fatalf("run = %+v", wr)
	}
	var req whmodel.HookRequest
	s.DB.Take(&req, "hook_id = ?", h.ID)
	if req.Outcome != "accepted" || req.WorkflowRunID == nil || *req.WorkflowRunID != wr.ID {
		t.Fatalf("request = %+v", req)
	}
	if _, _, err := s.Trigger(ctx, h.ID, signed(h.PlainSecret, `{"git_rev":"v2"}`)); steward.AsError(err).Field != "git_rev" {
		t.Fatalf("a rev on a workflow hook: %v", err)
	}
	if _, err := s.UpdateHook(ctx, admin, h, whmodel.HookPatch{AllowRevOverride: ptr(true)}); steward.AsError(err).Field != "allow_rev_override" {
		t.Fatalf("allow_rev_override on a workflow hook: %v", err)
	}
}

// PATCH: a disabled hook refuses (and logs) triggers; a rotated secret
// replaces the old one at once.
func TestUpdateHook(t *testing.T) {
	ctx := context.Background()
	s := store(t)
	workflowProject(t, s)
	admin := adminActor(t, s)
	h, err := s.CreateHook(ctx, admin, whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release")})
	if err != nil {
		t.Fatal(err)
	}
	old := h.PlainSecret
	if h, err = s.UpdateHook(ctx, admin, h, whmodel.HookPatch{Enabled: ptr(false), PropertyOverrides: model.JSONMap{"a": 1}}); err != nil || h.PlainSecret != old {
		t.Fatal(err)
	}
	if _, _, err := s.Trigger(ctx, h.ID, signed(old, `{}`)); steward.AsError(err).Kind != steward.KindForbidden {
		t.Fatalf("disabled hook: %v", err)
	}
	if h, err = s.UpdateHook(ctx, admin, h, whmodel.HookPatch{Enabled: ptr(true), RotateSecret: true}); err != nil || h.PlainSecret == old || h.PlainSecret == "" {
		t.Fatalf("rotate: %v", err)
	}
	if _, _, err := s.Trigger(ctx, h.ID, signed(old, `{"n":1}`)); steward.AsError(err).Kind != steward.KindUnauthorized {
		t.Fatalf("old secret: %v", err)
	}
	if _, _, err := s.Trigger(ctx, h.ID, signed(h.PlainSecret, `{"n":2}`)); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	stored, err := s.GetHook(ctx, admin, h.ID)
	if err != nil || stored.Enabled != true || stored.PropertyOverrides["a"] == nil {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	if n := testutil.Count(t, s.DB, "events WHERE type = 'api:hooks:update'"); n != 2 {
		t.Fatalf("update events = %d", n)
	}
	if _, err := s.UpdateHook(ctx, &model.Actor{Username: "nobody"}, h, whmodel.HookPatch{Enabled: ptr(false)}); steward.AsError(err).Kind != steward.KindForbidden {
		t.Fatalf("a user without /admin: %v", err)
	}
}

// The request log keeps the newest KeepRequests entries of each hook,
// accepted or refused, and leaves other hooks' alone.
func TestHookRequestLogIsBounded(t *testing.T) {
	ctx := context.Background()
	s := store(t)
	s.KeepRequests = 3
	workflowProject(t, s)
	admin := adminActor(t, s)
	a, err := s.CreateHook(ctx, admin, whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateHook(ctx, admin, whmodel.HookInput{ParentPath: "/projects/opc", WorkflowCode: ptr("release")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Trigger(ctx, b.ID, whmodel.Signed{}); err == nil {
		t.Fatal("an unsigned trigger was accepted")
	}
	for i := 0; i < 5; i++ {
		_, _, _ = s.Trigger(ctx, a.ID, whmodel.Signed{}) // refused: logged
	}
	if _, _, err := s.Trigger(ctx, a.ID, signed(a.PlainSecret, `{}`)); err != nil {
		t.Fatal(err)
	}
	var log []whmodel.HookRequest
	s.DB.Where("hook_id = ?", a.ID).Order("id").Find(&log)
	if len(log) != 3 || log[2].Outcome != "accepted" || log[0].Outcome != "refused" {
		t.Fatalf("log = %+v", log)
	}
	if n := testutil.Count(t, s.DB, "hook_requests WHERE hook_id = '"+b.ID+"'"); n != 1 {
		t.Fatalf("the other hook's log has %d entries", n)
	}
}
