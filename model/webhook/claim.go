package webhook

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/db"
)

// Claimed is a delivery a service holds for one attempt: the subscription's
// URL and opened secret (never log it) and the event to send.
type Claimed struct {
	Delivery
	URL    string
	Secret string
	Event  *model.Event
}

// Claim takes up to limit due deliveries of enabled subscriptions for this
// caller until now+lease, under token (unique per claim). On PostgreSQL the
// rows are locked FOR UPDATE SKIP LOCKED, so replicas claiming at once take
// different rows; SQLite has one writer at a time, so the same statements
// serialise. A claim whose holder dies comes due again when its lease ends.
func (s *Store) Claim(ctx context.Context, token string, lease time.Duration, limit int) ([]Claimed, error) {
	now := s.Now()
	var out []Claimed
	err := s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&Delivery{}).
			Where("next_attempt_at <= ?", now).
			Where("webhook_id IN (SELECT id FROM webhooks WHERE enabled)").
			Order("next_attempt_at").Limit(limit)
		if db.DialectOf(tx) == db.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		var rows []Delivery
		if err := q.Find(&rows).Error; err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]string, len(rows))
		hookIDs := map[string]bool{}
		eventIDs := make([]string, len(rows))
		for i, d := range rows {
			ids[i], eventIDs[i] = d.ID, d.EventID
			hookIDs[d.WebhookID] = true
		}
		if err := tx.Model(&Delivery{}).Where("id IN ?", ids).
			Updates(map[string]any{"next_attempt_at": now.Add(lease), "claim": token}).Error; err != nil {
			return err
		}
		var hooks []Webhook
		if err := tx.Where("id IN ?", keys(hookIDs)).Find(&hooks).Error; err != nil {
			return err
		}
		var events []model.Event
		if err := tx.Where("id IN ?", eventIDs).Find(&events).Error; err != nil {
			return err
		}
		byHook := map[string]*Webhook{}
		for i := range hooks {
			byHook[hooks[i].ID] = &hooks[i]
		}
		byEvent := map[string]*model.Event{}
		for i := range events {
			byEvent[events[i].ID] = &events[i]
		}
		secrets := map[string]string{}
		for _, d := range rows {
			w := byHook[d.WebhookID]
			sec, ok := secrets[w.ID]
			if !ok {
				var err error
				if sec, err = s.open(w.Secret, "webhook:"+w.ID); err != nil {
					return fmt.Errorf("webhook %s: %w", w.ID, err)
				}
				secrets[w.ID] = sec
			}
			d.Claim = &token
			out = append(out, Claimed{Delivery: d, URL: w.URL, Secret: sec, Event: byEvent[d.EventID]})
		}
		return nil
	})
	return out, err
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Result is what one attempt came to. OK: a 2xx answer in time.
type Result struct {
	Attempt Attempt
	OK      bool
	RetryAt time.Time // when to try again after a failure
}

// Window is how long a delivery is retried, and how long a subscription
// may fail without a success before it is disabled.
const Window = 24 * time.Hour

// Finish records an attempt of c and moves the delivery on: success; a
// retry at r.RetryAt; or failed when its round of retries is older than
// Window. A subscription whose failures began Window ago is disabled, with
// an api:webhooks:disable event. A claim another holder has since taken
// (the lease ran out) only records the attempt.
func (s *Store) Finish(ctx context.Context, c *Claimed, r Result) error {
	now := s.Now()
	return s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		a := r.Attempt
		a.ID, a.DeliveryID, a.Number = model.NewID(), c.ID, c.Attempts+1
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		set := map[string]any{"attempts": gorm.Expr("attempts + 1"), "claim": nil, "updated_at": now,
			"last_status": a.ResponseStatus, "last_error": a.Error}
		switch {
		case r.OK:
			set["status"], set["next_attempt_at"], set["delivered_at"] = StatusSuccess, nil, now
		case now.Sub(c.RoundStartedAt) >= Window:
			set["status"], set["next_attempt_at"] = StatusFailed, nil
		default:
			set["next_attempt_at"] = r.RetryAt
		}
		res := tx.Model(&Delivery{}).Where("id = ? AND claim = ?", c.ID, *c.Claim).Updates(set)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if r.OK {
			return tx.Model(&Webhook{}).Where("id = ? AND failing_since IS NOT NULL", c.WebhookID).Update("failing_since", nil).Error
		}
		if err := tx.Model(&Webhook{}).Where("id = ? AND failing_since IS NULL", c.WebhookID).Update("failing_since", now).Error; err != nil {
			return err
		}
		return s.disableIfFailing(tx, c.WebhookID, now)
	})
}

// disableIfFailing disables the subscription when it has failed for Window.
func (s *Store) disableIfFailing(tx *gorm.DB, id string, now time.Time) error {
	reason := fmt.Sprintf("every delivery attempt failed for %s", Window)
	res := tx.Model(&Webhook{}).Where("id = ? AND enabled AND failing_since <= ?", id, now.Add(-Window)).
		Updates(map[string]any{"enabled": false, "disabled_reason": reason, "updated_at": now})
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	return s.Record(tx, model.SystemActor, "api:webhooks:disable", &model.EventSource{Type: "webhook", ID: id, Path: "/webhooks/" + id},
		model.JSONMap{"reason": reason})
}

// NextDue is when the earliest pending delivery of an enabled subscription
// comes due (zero when none waits).
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var d Delivery
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("next_attempt_at").Where("next_attempt_at IS NOT NULL").
			Where("webhook_id IN (SELECT id FROM webhooks WHERE enabled)").
			Order("next_attempt_at").Limit(1).Find(&d).Error
	})
	if err != nil || d.NextAttemptAt == nil {
		return time.Time{}, err
	}
	return *d.NextAttemptAt, nil
}
