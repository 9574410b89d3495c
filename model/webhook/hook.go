package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/authz"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Hook is a signed entry point for CI: a trigger creates a change of
// Action on the node, from GitRemoteName at GitRev (or the asset's template
// version), with PropertyOverrides, acting as CreatedBy; or, when
// WorkflowCode is set (Action is then ""), a run of that workflow of the
// project, at WorkflowVersion or the latest published version at each
// trigger. A trigger's body may name another git_rev only when
// AllowRevOverride is set (change hooks only). A disabled hook refuses
// every trigger.
type Hook struct {
	ID                string `gorm:"primaryKey"`
	Name              string
	NodeID            string
	NodePath          string
	Action            string
	WorkflowCode      *string
	WorkflowVersion   *int
	Enabled           bool
	GitRemoteName     *string
	GitRev            *string
	TemplateVersion   *string
	PropertyOverrides model.JSONMap
	AllowRevOverride  bool
	Secret            string `json:"-"` // sealed; never rendered
	CreatedBy         string
	CreatedAt         time.Time
	UpdatedAt         time.Time

	PlainSecret string `gorm:"-" json:"-"` // set by create and rotation only: shown once
}

// HookInput is what a client sets on a new hook: Action, or WorkflowCode
// (and optionally WorkflowVersion).
type HookInput struct {
	Name              string
	ParentPath        string
	Action            string
	WorkflowCode      *string
	WorkflowVersion   *int
	GitRemoteName     *string
	GitRev            *string
	TemplateVersion   *string
	PropertyOverrides model.JSONMap
	AllowRevOverride  bool
}

// HookFilters are the attributes a hook list may filter and sort by.
var HookFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "name": {Column: "name"}, "parent_path": {Column: "node_path"},
	"action": {Column: "action"}, "workflow_code": {Column: "workflow_code", Nullable: true},
	"enabled": {Column: "enabled", Kind: listquery.Bool}, "created_by": {Column: "created_by"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// Hooks is the hook list, for readers of /admin.
func (s *Store) Hooks(actor *model.Actor) model.Source[Hook] {
	return model.NewSource[Hook](s.Store.Store, "id", func(db *gorm.DB) *gorm.DB { return db.Model(&Hook{}) }).Guarded(model.AdminPath)
}

// GetHook loads one hook; 404 when unknown.
func (s *Store) GetHook(ctx context.Context, actor *model.Actor, id string) (*Hook, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireRead(model.AdminPath); err != nil {
		return nil, err
	}
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("hook", id)
	}
	var h Hook
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ?", id).Take(&h).Error })
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("hook", id)
	}
	return &h, err
}

func hookSource(h *Hook) *model.EventSource {
	return &model.EventSource{Type: "hook", ID: h.ID, Path: "/hooks/" + h.ID}
}

func (in HookInput) change() run.ChangeInput {
	return run.ChangeInput{Action: in.Action, GitRemoteName: in.GitRemoteName, GitRev: in.GitRev,
		TemplateVersion: in.TemplateVersion, PropertyOverrides: in.PropertyOverrides}
}

// CreateHook stores a hook with a new secret (PlainSecret, shown once). The
// change it would create is prepared once (node, remote, rev, action
// checked) so that a hook that could never work is refused now, naming the
// attribute at fault.
func (s *Store) CreateHook(ctx context.Context, actor *model.Actor, in HookInput) (*Hook, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireAdmin(); err != nil {
		return nil, err
	}
	if len(in.Name) > 200 {
		return nil, steward.Invalid("name", "too_long", "name must be at most 200 characters")
	}
	if in.ParentPath == "" {
		return nil, steward.Invalid("parent_path", "required", "parent_path is required: the node the hook's changes run on")
	}
	node, err := s.ChangeTarget(ctx, in.ParentPath)
	if err != nil {
		return nil, err
	}
	if in.WorkflowCode != nil {
		err = s.checkWorkflowHook(ctx, actor, node, in)
	} else if in.Action == "" {
		err = steward.Invalid("action", "required", "action (or workflow_code, for a workflow hook) is required")
	} else {
		_, err = s.PrepareChange(ctx, actor, node, in.change())
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	h := &Hook{ID: model.NewID(), Name: in.Name, NodeID: node.ID, NodePath: node.Path, Action: in.Action,
		WorkflowCode: in.WorkflowCode, WorkflowVersion: in.WorkflowVersion, Enabled: true,
		GitRemoteName: in.GitRemoteName, GitRev: in.GitRev, TemplateVersion: in.TemplateVersion,
		PropertyOverrides: in.PropertyOverrides, AllowRevOverride: in.AllowRevOverride,
		CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	if h.PropertyOverrides == nil {
		h.PropertyOverrides = model.JSONMap{}
	}
	if err := s.newHookSecret(h); err != nil {
		return nil, err
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(h).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:hooks:create", hookSource(h), model.JSONMap{"node": h.NodePath, "action": h.Action, "workflow_code": h.WorkflowCode})
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// DeleteHook removes a hook with its request log.
func (s *Store) DeleteHook(ctx context.Context, actor *model.Actor, h *Hook) error {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireAdmin(); err != nil {
		return err
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", h.ID).Delete(&Hook{}).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:hooks:delete", hookSource(h), model.JSONMap{"node": h.NodePath})
	})
}

func (s *Store) newHookSecret(h *Hook) error {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	h.PlainSecret = "stwhk_" + base64.RawURLEncoding.EncodeToString(b)
	var err error
	h.Secret, err = s.seal(h.PlainSecret, "hook:"+h.ID)
	return err
}

// checkWorkflowHook refuses a workflow hook that could never run: not on a
// project (workflows belong to projects), with change attributes, or
// naming a workflow or version that cannot run now.
func (s *Store) checkWorkflowHook(ctx context.Context, actor *model.Actor, node *model.Node, in HookInput) error {
	code := *in.WorkflowCode
	switch {
	case in.Action != "":
		return steward.Invalid("workflow_code", "not_allowed", "a hook runs an action or a workflow, not both")
	case node.Kind != model.KindProject:
		return steward.Invalid("parent_path", "not_allowed", "workflows belong to projects: a workflow hook's parent_path is a project, not %s %s", node.Kind, node.Path)
	case in.GitRemoteName != nil || in.GitRev != nil || in.TemplateVersion != nil || in.AllowRevOverride:
		return steward.Invalid("workflow_code", "not_allowed",
			"a workflow hook takes no git_remote_name, git_rev, template_version or allow_rev_override: the workflow's steps name their own")
	case in.WorkflowVersion != nil && *in.WorkflowVersion < 1:
		return steward.Invalid("version", "invalid_version", "version must be a published version number (1 or more)")
	}
	if _, _, err := s.workflowToRun(ctx, node, code, in.WorkflowVersion); err != nil {
		return err
	}
	return actor.Authorise(authz.Execute, node.Path+"/workflows/"+code, "node", node.Path+"/workflows/"+code)
}

// workflowToRun is the version a workflow hook's trigger runs; what cannot
// run is a 422 naming workflow_code or version.
func (s *Store) workflowToRun(ctx context.Context, project *model.Node, code string, version *int) (*model.Workflow, *model.WorkflowVersion, error) {
	wf, v, err := s.RunnableWorkflowVersion(ctx, project, code, version)
	if err == nil && (v.Draft || wf.Archived || v.Archived) {
		err = steward.Invalid("workflow_code", "not_runnable", "workflow %s cannot run: its version is a draft or archived", code)
	}
	if err == nil {
		return wf, v, nil
	}
	e := steward.AsError(err)
	field := "workflow_code"
	if version != nil {
		field = "version"
	}
	if e.Kind == steward.KindNotFound {
		if version != nil {
			return nil, nil, steward.Invalid(field, "unknown_version", "workflow %s of project %s has no runnable version %d", steward.Echo(code), project.Code, *version)
		}
		return nil, nil, steward.Invalid(field, "unknown_workflow", "project %s has no runnable workflow %s", project.Code, steward.Echo(code))
	}
	if e.Kind == steward.KindInvalid && e.Field == "" {
		e.Field = field
	}
	return nil, nil, err
}

// HookPatch is what PATCH changes on a hook; nil leaves a field alone.
type HookPatch struct {
	Enabled           *bool
	PropertyOverrides model.JSONMap // nil: unchanged; {} clears them
	AllowRevOverride  *bool
	RotateSecret      bool // a new secret, in PlainSecret: shown once
}

// UpdateHook edits a hook: enabled, property overrides, whether a trigger
// may choose git_rev, and its secret (rotated: the old one stops working
// at once).
func (s *Store) UpdateHook(ctx context.Context, actor *model.Actor, h *Hook, in HookPatch) (*Hook, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireAdmin(); err != nil {
		return nil, err
	}
	if in.AllowRevOverride != nil && *in.AllowRevOverride && h.WorkflowCode != nil {
		return nil, steward.Invalid("allow_rev_override", "not_allowed", "a workflow hook has no git_rev to override")
	}
	if in.Enabled != nil {
		h.Enabled = *in.Enabled
	}
	if in.PropertyOverrides != nil {
		h.PropertyOverrides = in.PropertyOverrides
	}
	if in.AllowRevOverride != nil {
		h.AllowRevOverride = *in.AllowRevOverride
	}
	if in.RotateSecret {
		if err := s.newHookSecret(h); err != nil {
			return nil, err
		}
	}
	h.UpdatedAt = s.Now()
	err := s.Write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Hook{}).Where("id = ?", h.ID).Updates(map[string]any{"enabled": h.Enabled, "property_overrides": h.PropertyOverrides,
			"allow_rev_override": h.AllowRevOverride, "secret": h.Secret, "updated_at": h.UpdatedAt})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return steward.NotFound("hook", h.ID)
		}
		return s.Record(tx, actor, "api:hooks:update", hookSource(h), model.JSONMap{"node": h.NodePath, "enabled": h.Enabled,
			"allow_rev_override": h.AllowRevOverride, "rotated_secret": in.RotateSecret})
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}
