package webhook

import (
	"context"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/db"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Delivery statuses: pending until a 2xx answer (success) or 24 hours of
// failed attempts (failed).
const (
	StatusPending = "pending"
	StatusSuccess = "success"
	StatusFailed  = "failed"
)

// Delivery is one event owed to one subscription: the outbox row.
type Delivery struct {
	ID             string `gorm:"primaryKey"`
	WebhookID      string
	EventID        string
	EventType      string
	Status         string
	Attempts       int
	NextAttemptAt  *time.Time
	RoundStartedAt time.Time
	Claim          *string `json:"-"` // the claim in flight; its holder alone may finish it
	LastStatus     *int
	LastError      *string
	DeliveredAt    *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName: the outbox.
func (Delivery) TableName() string { return "webhook_deliveries" }

// Attempt is one POST of a delivery and what came back.
type Attempt struct {
	ID             string `gorm:"primaryKey"`
	DeliveryID     string
	Number         int
	StartedAt      time.Time
	RequestHeaders model.JSONMap
	ResponseStatus *int
	ResponseBody   *string
	LatencyUS      int64 `gorm:"column:latency_us"`
	Error          *string
}

// TableName: the attempt log.
func (Attempt) TableName() string { return "webhook_attempts" }

// DeliveryFilters are the attributes a delivery list may filter and sort by.
var DeliveryFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "event_id": {Column: "event_id", Kind: listquery.UUID},
	"event_type": {Column: "event_type"}, "status": {Column: "status"}, "attempts": {Column: "attempts", Kind: listquery.Int},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
	"delivered_at":    {Column: "delivered_at", Kind: listquery.Time, Nullable: true},
	"next_attempt_at": {Column: "next_attempt_at", Kind: listquery.Time, Nullable: true},
}

// Deliveries is the delivery list of one subscription.
func (s *Store) Deliveries(actor *model.Actor, w *Webhook) model.Source[Delivery] {
	return model.NewSource[Delivery](s.Store.Store, "id", func(db *gorm.DB) *gorm.DB {
		return db.Model(&Delivery{}).Where("webhook_id = ?", w.ID)
	}).Guarded(model.AdminPath)
}

// GetDelivery loads delivery id of w; 404 when unknown.
func (s *Store) GetDelivery(ctx context.Context, actor *model.Actor, w *Webhook, id string) (*Delivery, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireRead(model.AdminPath); err != nil {
		return nil, err
	}
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("webhook_delivery", id)
	}
	var d Delivery
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ? AND webhook_id = ?", id, w.ID).Take(&d).Error })
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("webhook_delivery", id)
	}
	return &d, err
}

// AttemptsOf loads the attempts of the given deliveries, oldest first.
func (s *Store) AttemptsOf(ctx context.Context, deliveryIDs []string) (map[string][]Attempt, error) {
	out := map[string][]Attempt{}
	if len(deliveryIDs) == 0 {
		return out, nil
	}
	var rows []Attempt
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Where("delivery_id IN ?", deliveryIDs).Order("delivery_id").Order("number").Find(&rows).Error
	})
	for _, a := range rows {
		out[a.DeliveryID] = append(out[a.DeliveryID], a)
	}
	return out, err
}

// Redeliver queues d again now, whatever became of it, with a fresh 24
// hours of retries, and wakes the delivery services.
func (s *Store) Redeliver(ctx context.Context, actor *model.Actor, w *Webhook, d *Delivery) (*Delivery, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireAdmin(); err != nil {
		return nil, err
	}
	now := s.Now()
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&Delivery{}).Where("id = ?", d.ID).Updates(map[string]any{
			"status": StatusPending, "next_attempt_at": now, "round_started_at": now, "claim": nil, "updated_at": now}).Error; err != nil {
			return err
		}
		if err := notify(tx); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:webhook_deliveries:redeliver", eventSource(w), model.JSONMap{"delivery_id": d.ID, "event_id": d.EventID})
	})
	if err != nil {
		return nil, err
	}
	s.Outbox().Notify()
	return s.GetDelivery(ctx, actor, w, d.ID)
}

// notify wakes the delivery services of every replica at tx's commit.
func notify(tx *gorm.DB) error {
	if db.DialectOf(tx) != db.Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_notify(?, '')", model.OutboxChannel).Error
}
