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
	"github.com/stewardhq/steward/pkg/listquery"
)

// Hook is a signed entry point for CI: a trigger creates a change of
// Action on the node, from GitRemoteName at GitRev (or the asset's template
// version), with PropertyOverrides, acting as CreatedBy. A trigger's body
// may name another git_rev only when AllowRevOverride is set.
type Hook struct {
	ID                string `gorm:"primaryKey"`
	Name              string
	NodeID            string
	NodePath          string
	Action            string
	GitRemoteName     *string
	GitRev            *string
	TemplateVersion   *string
	PropertyOverrides model.JSONMap
	AllowRevOverride  bool
	Secret            string `json:"-"` // sealed; never rendered
	CreatedBy         string
	CreatedAt         time.Time
	UpdatedAt         time.Time

	PlainSecret string `gorm:"-" json:"-"` // set by Create only: shown once
}

// HookInput is what a client sets on a hook (hooks are replaced, not edited).
type HookInput struct {
	Name              string
	ParentPath        string
	Action            string
	GitRemoteName     *string
	GitRev            *string
	TemplateVersion   *string
	PropertyOverrides model.JSONMap
	AllowRevOverride  bool
}

// HookFilters are the attributes a hook list may filter and sort by.
var HookFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "name": {Column: "name"}, "parent_path": {Column: "node_path"},
	"action": {Column: "action"}, "created_by": {Column: "created_by"},
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
	if in.Action == "" {
		return nil, steward.Invalid("action", "required", "action is required")
	}
	node, err := s.ChangeTarget(ctx, in.ParentPath)
	if err != nil {
		return nil, err
	}
	if _, err := s.PrepareChange(ctx, actor, node, in.change()); err != nil {
		return nil, err
	}
	now := s.Now()
	h := &Hook{ID: model.NewID(), Name: in.Name, NodeID: node.ID, NodePath: node.Path, Action: in.Action,
		GitRemoteName: in.GitRemoteName, GitRev: in.GitRev, TemplateVersion: in.TemplateVersion,
		PropertyOverrides: in.PropertyOverrides, AllowRevOverride: in.AllowRevOverride,
		CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	if h.PropertyOverrides == nil {
		h.PropertyOverrides = model.JSONMap{}
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	h.PlainSecret = "stwhk_" + base64.RawURLEncoding.EncodeToString(b)
	if h.Secret, err = s.seal(h.PlainSecret, "hook:"+h.ID); err != nil {
		return nil, err
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(h).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:hooks:create", hookSource(h), model.JSONMap{"node": h.NodePath, "action": h.Action})
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
