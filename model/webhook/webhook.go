package webhook

import (
	"context"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Webhook is a subscription: events whose type matches one of EventTypes
// and whose node lies under PathPrefix ("" for any) are POSTed to URL,
// signed with the sealed secret. FailingSince is when the current run of
// failed attempts began; 24 hours of it disables the subscription.
type Webhook struct {
	ID             string `gorm:"primaryKey"`
	URL            string `gorm:"column:url"`
	Description    string
	EventTypes     model.JSONList
	PathPrefix     string
	Enabled        bool
	Secret         string `json:"-"` // sealed; never rendered
	FailingSince   *time.Time
	DisabledReason *string
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// PlainSecret is set only by create and rotation: shown once.
	PlainSecret string `gorm:"-" json:"-"`
}

// EventType is one pattern of a subscription in the forms SQL matches.
type EventType struct {
	WebhookID string `gorm:"primaryKey"`
	Glob      string `gorm:"primaryKey"`
	TypeLike  string
}

// TableName: the pattern rows.
func (EventType) TableName() string { return "webhook_event_types" }

// Input is what a client may set; nil leaves a field alone.
type Input struct {
	URL          *string
	Description  *string
	EventTypes   []string // nil: unchanged
	PathPrefix   *string
	Enabled      *bool
	RotateSecret bool
}

// Filters are the attributes a subscription list may filter and sort by.
var Filters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "url": {Column: "url"}, "description": {Column: "description"},
	"path_prefix": {Column: "path_prefix"}, "enabled": {Column: "enabled", Kind: listquery.Bool},
	"created_by": {Column: "created_by"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// patternRE: event types are words joined by colons; * matches any run of
// characters (so api:changes:* and * both work). Nothing else is special.
var patternRE = regexp.MustCompile(`^[A-Za-z0-9_.:*-]{1,200}$`)

// eventTypeRows validates patterns (1 to 50, deduplicated) and returns
// their rows: the glob as given, and its LIKE form with _ escaped.
func eventTypeRows(webhookID string, patterns []string) ([]EventType, error) {
	if len(patterns) == 0 || len(patterns) > 50 {
		return nil, steward.Invalid("event_types", "invalid_event_types", "event_types must list 1 to 50 patterns, e.g. [\"api:changes:*\"]")
	}
	seen := map[string]bool{}
	var rows []EventType
	for _, p := range patterns {
		if !patternRE.MatchString(p) {
			return nil, steward.Invalid("event_types", "invalid_pattern",
				"event type pattern %s may hold letters, digits, _ . : - and * (any characters), at most 200", steward.Echo(p))
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		like := strings.NewReplacer(`_`, `\_`, `*`, `%`).Replace(p)
		rows = append(rows, EventType{WebhookID: webhookID, Glob: p, TypeLike: like})
	}
	return rows, nil
}

// checkPrefix: "" or a node path (/projects/p[/environments/e][/assets/a]).
func checkPrefix(p string) (string, error) {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "/api"), "/")
	if p != "" && (!strings.HasPrefix(p, "/projects/") || strings.Contains(p, "//") || len(p) > 1000) {
		return "", steward.Invalid("path_prefix", "invalid_path_prefix", "path_prefix must be a node path such as /projects/opc/environments/dev, or empty")
	}
	return p, nil
}

func (s *Store) validate(ctx context.Context, in Input) error {
	if in.URL != nil {
		u, err := CheckURL("url", *in.URL)
		if err != nil {
			return err
		}
		if _, err := s.Allow.Resolve(ctx, u.Hostname()); err != nil {
			return err
		}
	}
	if in.Description != nil && len(*in.Description) > 1000 {
		return steward.Invalid("description", "too_long", "description must be at most 1000 characters")
	}
	return nil
}

// List is the subscription list, for readers of /admin.
func (s *Store) List(actor *model.Actor) model.Source[Webhook] {
	return model.NewSource[Webhook](s.Store.Store, "id", func(db *gorm.DB) *gorm.DB { return db.Model(&Webhook{}) }).Guarded(model.AdminPath)
}

// Get loads one subscription; 404 when unknown.
func (s *Store) Get(ctx context.Context, actor *model.Actor, id string) (*Webhook, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireRead(model.AdminPath); err != nil {
		return nil, err
	}
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("webhook", id)
	}
	var w Webhook
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ?", id).Take(&w).Error })
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("webhook", id)
	}
	return &w, err
}

func eventSource(w *Webhook) *model.EventSource {
	return &model.EventSource{Type: "webhook", ID: w.ID, Path: "/webhooks/" + w.ID}
}

// Create stores a subscription with a new secret (PlainSecret, shown
// once). url and event_types are required.
func (s *Store) Create(ctx context.Context, actor *model.Actor, in Input) (*Webhook, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireAdmin(); err != nil {
		return nil, err
	}
	if in.URL == nil {
		return nil, steward.Invalid("url", "required", "url is required")
	}
	if in.EventTypes == nil {
		return nil, steward.Invalid("event_types", "required", "event_types is required, e.g. [\"*\"] for every event")
	}
	if err := s.validate(ctx, in); err != nil {
		return nil, err
	}
	now := s.Now()
	w := &Webhook{ID: model.NewID(), URL: *in.URL, Enabled: true, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	if err := s.apply(w, in); err != nil {
		return nil, err
	}
	rows, err := eventTypeRows(w.ID, w.EventTypes)
	if err != nil {
		return nil, err
	}
	if err := s.newSecret(w); err != nil {
		return nil, err
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(w).Error; err != nil {
			return err
		}
		if err := tx.Create(rows).Error; err != nil {
			return err
		}
		if err := model.ChangedSubscriptions(tx); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:webhooks:create", eventSource(w), model.JSONMap{"url": w.URL, "event_types": []string(w.EventTypes)})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (s *Store) newSecret(w *Webhook) error {
	w.PlainSecret = newSecret()
	sealed, err := s.seal(w.PlainSecret, "webhook:"+w.ID)
	w.Secret = sealed
	return err
}

// apply copies in onto w (validated fields only).
func (s *Store) apply(w *Webhook, in Input) error {
	if in.URL != nil {
		w.URL = *in.URL
	}
	if in.Description != nil {
		w.Description = *in.Description
	}
	if in.EventTypes != nil {
		w.EventTypes = in.EventTypes
	}
	if in.PathPrefix != nil {
		p, err := checkPrefix(*in.PathPrefix)
		if err != nil {
			return err
		}
		w.PathPrefix = p
	}
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
		if w.Enabled { // enabling again starts a fresh failure window
			w.FailingSince, w.DisabledReason = nil, nil
		}
	}
	return nil
}

// Update changes a subscription; RotateSecret replaces its secret (the new
// one is in PlainSecret, shown once).
func (s *Store) Update(ctx context.Context, actor *model.Actor, w *Webhook, in Input) (*Webhook, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireAdmin(); err != nil {
		return nil, err
	}
	if err := s.validate(ctx, in); err != nil {
		return nil, err
	}
	wasEnabled := w.Enabled
	if err := s.apply(w, in); err != nil {
		return nil, err
	}
	var rows []EventType
	if in.EventTypes != nil {
		var err error
		if rows, err = eventTypeRows(w.ID, in.EventTypes); err != nil {
			return nil, err
		}
	}
	if in.RotateSecret {
		if err := s.newSecret(w); err != nil {
			return nil, err
		}
	}
	w.UpdatedAt = s.Now()
	err := s.Write(ctx, func(tx *gorm.DB) (err error) {
		if err := tx.Model(&Webhook{}).Where("id = ?", w.ID).Select("*").Omit("id", "created_at", "created_by").Updates(w).Error; err != nil {
			return err
		}
		if rows != nil {
			if err := tx.Where("webhook_id = ?", w.ID).Delete(&EventType{}).Error; err != nil {
				return err
			}
			if err := tx.Create(rows).Error; err != nil {
				return err
			}
		}
		switch {
		case wasEnabled && !w.Enabled:
			err = pause(tx, w.ID)
		case !wasEnabled && w.Enabled:
			if err = resume(tx, w.ID, w.UpdatedAt); err == nil {
				err = notify(tx)
			}
		}
		if err == nil {
			err = model.ChangedSubscriptions(tx)
		}
		if err != nil {
			return err
		}
		return s.Record(tx, actor, "api:webhooks:update", eventSource(w), model.JSONMap{"rotated_secret": in.RotateSecret, "enabled": w.Enabled})
	})
	if err != nil {
		return nil, err
	}
	if !wasEnabled && w.Enabled {
		s.Outbox().Notify()
	}
	return w, nil
}

// Delete removes a subscription with its deliveries.
func (s *Store) Delete(ctx context.Context, actor *model.Actor, w *Webhook) error {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireAdmin(); err != nil {
		return err
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", w.ID).Delete(&Webhook{}).Error; err != nil {
			return err
		}
		if err := model.ChangedSubscriptions(tx); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:webhooks:delete", eventSource(w), model.JSONMap{"url": w.URL})
	})
}
