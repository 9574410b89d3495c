package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/db"
)

// Claimed is a delivery a service holds for one attempt: the subscription's
// URL and opened secret (never log it) and the event to send.
type Claimed struct {
	Delivery
	URL    string
	Secret string
	Event  *model.Event
	// Failing: the subscription's failing_since was set at the claim, so
	// a success has it to clear.
	Failing bool
}

// Claim takes up to limit due deliveries of enabled subscriptions for this
// caller until now+lease, under token (unique per claim). On PostgreSQL the
// rows are locked FOR UPDATE SKIP LOCKED, so replicas claiming at once take
// different rows; SQLite has one writer at a time, so the same statements
// serialise. A claim whose holder dies comes due again when its lease ends.
func (s *Store) Claim(ctx context.Context, token string, lease time.Duration, limit int) ([]Claimed, error) {
	return s.FinishAndClaim(ctx, nil, token, lease, limit)
}

// FinishAndClaim records done (see Finish) and claims up to limit due
// deliveries (see Claim) in one transaction: a busy service commits once
// per cycle rather than twice, which is what SQLite's one writer at a time
// rewards.
func (s *Store) FinishAndClaim(ctx context.Context, done []Finished, token string, lease time.Duration, limit int) ([]Claimed, error) {
	var out []Claimed
	err := s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		// The finish and the claim are cached statements run hundreds of
		// times a second; PostgreSQL soon gives each connection a generic
		// plan priced on the table's size then. On a table that grows
		// (every event adds a row per subscriber) that plan was a hash join
		// over a sequential scan, frozen until autovacuum's next ANALYZE:
		// 3-7 ms a statement and a backlog of seconds. A plan made for each
		// execution follows the table's size as it grows.
		if db.DialectOf(tx) == db.Postgres {
			if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
				return err
			}
		}
		now := s.Now()
		if len(done) > 0 {
			if err := s.finish(tx, now, done); err != nil {
				return err
			}
		}
		if limit > 0 {
			return s.claim(tx, now, token, lease, limit, &out)
		}
		return nil
	})
	return out, err
}

func (s *Store) claim(tx *gorm.DB, now time.Time, token string, lease time.Duration, limit int, out *[]Claimed) error {
	// One statement takes the due rows (a range scan of the due index; on
	// PostgreSQL skipping rows another replica holds) and marks them ours.
	// A disabled subscription's deliveries are paused (next_attempt_at
	// NULL), so they are not due.
	// The picked ids are materialised first, so that the LIMIT and the
	// locks apply once (a subquery in IN could be planned to run again).
	pick := "SELECT id FROM webhook_deliveries WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?"
	if db.DialectOf(tx) == db.Postgres {
		pick += " FOR UPDATE SKIP LOCKED"
	}
	var rows []Delivery
	if err := tx.Raw("WITH due(due_id) AS MATERIALIZED ("+pick+")\nUPDATE webhook_deliveries SET next_attempt_at = ?, claim = ? FROM due WHERE id = due.due_id RETURNING "+deliveryColumns,
		now, limit, now.Add(lease), token).Scan(&rows).Error; err != nil || len(rows) == 0 {
		return err
	}
	hookIDs, eventIDs := map[string]bool{}, map[string]bool{}
	for _, d := range rows {
		hookIDs[d.WebhookID], eventIDs[d.EventID] = true, true
	}
	var hooks []Webhook
	if err := tx.Select("id", "url", "enabled", "secret", "failing_since").Where("id IN ?", keys(hookIDs)).Find(&hooks).Error; err != nil {
		return err
	}
	byHook := map[string]*Webhook{}
	for i := range hooks {
		byHook[hooks[i].ID] = &hooks[i]
	}
	// A retry scheduled just as its subscription was disabled is paused
	// here rather than sent.
	var paused []string
	live := rows[:0]
	for _, d := range rows {
		if w := byHook[d.WebhookID]; w == nil || !w.Enabled {
			paused = append(paused, d.ID)
			continue
		}
		live = append(live, d)
	}
	rows = live
	if len(paused) > 0 {
		if err := tx.Model(&Delivery{}).Where("id IN ?", paused).Updates(map[string]any{"next_attempt_at": nil, "claim": nil}).Error; err != nil {
			return err
		}
	}
	if len(rows) == 0 {
		return nil
	}
	var events []model.Event
	if err := tx.Where("id IN ?", keys(eventIDs)).Find(&events).Error; err != nil {
		return err
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
		*out = append(*out, Claimed{Delivery: d, URL: w.URL, Secret: sec, Event: byEvent[d.EventID], Failing: w.FailingSince != nil})
	}
	// Oldest first, so that the first sent are the longest waiting.
	slices.SortFunc(*out, func(a, b Claimed) int { return strings.Compare(a.ID, b.ID) })
	return nil
}

// deliveryColumns are Delivery's columns, as a claim returns them.
const deliveryColumns = "id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, round_started_at, claim, " +
	"last_status, last_error, delivered_at, created_at, updated_at"

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

// Finished is one attempt to record: the claim and what came of it.
type Finished struct {
	Claimed *Claimed
	Result  Result
}

// Finish records attempts and moves each delivery on: success; a retry at
// its RetryAt; or failed when its round of retries is older than Window. A
// subscription whose failures began Window ago is disabled, with an
// api:webhooks:disable event. A claim another holder has since taken (the
// lease ran out) only records its attempt. One transaction for the lot:
// under load the service records a batch per commit.
func (s *Store) Finish(ctx context.Context, done ...Finished) error {
	_, err := s.FinishAndClaim(ctx, done, "", 0, 0)
	return err
}

func (s *Store) finish(tx *gorm.DB, now time.Time, done []Finished) error {
	attempts := make([]*Attempt, len(done))
	for i, f := range done {
		a := f.Result.Attempt
		a.ID, a.DeliveryID, a.Number = model.NewID(), f.Claimed.ID, f.Claimed.Attempts+1
		attempts[i] = &a
	}
	if err := run.InsertRows(tx, attempts); err != nil {
		return err
	}
	// Every delivery moves on in one UPDATE ... FROM a VALUES list per
	// chunk, each row only while its claim is still ours; RETURNING says
	// which did, and how each subscription fared.
	succeeded, failed, failing := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range done {
		if f.Claimed.Failing {
			failing[f.Claimed.WebhookID] = true
		}
	}
	pg := db.DialectOf(tx) == db.Postgres
	row := "(?, ?, ?, ?, ?, ?)"
	if pg {
		row = "(?::uuid, ?::text, ?::integer, ?::text, ?::text, ?::timestamptz)"
	}
	per := 32
	if pg {
		per = 500
	}
	for from := 0; from < len(done); from += per {
		chunk := done[from:min(from+per, len(done))]
		var q strings.Builder
		q.WriteString("WITH v(vid, vclaim, vlast_status, vlast_error, vstatus, vnext) AS (VALUES ")
		args := make([]any, 0, 6*len(chunk)+2)
		for i, f := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
			c, r := f.Claimed, f.Result
			var status *string
			var next *time.Time
			switch {
			case r.OK:
				status = ptr(StatusSuccess)
			case now.Sub(c.RoundStartedAt) >= Window:
				status = ptr(StatusFailed)
			default:
				next = &r.RetryAt
			}
			args = append(args, c.ID, *c.Claim, r.Attempt.ResponseStatus, r.Attempt.Error, status, next)
		}
		q.WriteString(`)
UPDATE webhook_deliveries SET attempts = attempts + 1, claim = NULL, updated_at = ?,
  last_status = v.vlast_status, last_error = v.vlast_error, status = COALESCE(v.vstatus, status),
  next_attempt_at = v.vnext,
  delivered_at = CASE WHEN v.vstatus = 'success' THEN ? ELSE delivered_at END
FROM v WHERE id = v.vid AND claim = v.vclaim
RETURNING webhook_id, status`)
		args = append(args, now, now)
		var moved []struct{ WebhookID, Status string }
		if err := tx.Raw(q.String(), args...).Scan(&moved).Error; err != nil {
			return err
		}
		for _, m := range moved {
			if m.Status == StatusSuccess {
				succeeded[m.WebhookID] = true
			} else {
				failed[m.WebhookID] = true
			}
		}
	}
	// A success ends its subscription's failing run: only those failing
	// when claimed have one to end.
	var recovered []string
	for id := range succeeded {
		if failing[id] {
			recovered = append(recovered, id)
		}
	}
	if len(recovered) > 0 {
		if err := tx.Model(&Webhook{}).Where("id IN ? AND failing_since IS NOT NULL", recovered).Update("failing_since", nil).Error; err != nil {
			return err
		}
	}
	for id := range failed {
		if succeeded[id] {
			continue // it answers: not failing
		}
		if err := tx.Model(&Webhook{}).Where("id = ? AND failing_since IS NULL", id).Update("failing_since", now).Error; err != nil {
			return err
		}
		if err := s.disableIfFailing(tx, id, now); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// disableIfFailing disables the subscription when it has failed for Window.
func (s *Store) disableIfFailing(tx *gorm.DB, id string, now time.Time) error {
	reason := fmt.Sprintf("every delivery attempt failed for %s", Window)
	res := tx.Model(&Webhook{}).Where("id = ? AND enabled AND failing_since <= ?", id, now.Add(-Window)).
		Updates(map[string]any{"enabled": false, "disabled_reason": reason, "updated_at": now})
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	if err := pause(tx, id); err != nil {
		return err
	}
	if err := model.ChangedSubscriptions(tx); err != nil {
		return err
	}
	return s.Record(tx, model.SystemActor, "api:webhooks:disable", &model.EventSource{Type: "webhook", ID: id, Path: "/webhooks/" + id},
		model.JSONMap{"reason": reason})
}

// NextDue is when the earliest pending delivery comes due (zero when none
// waits).
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var d Delivery
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("next_attempt_at").Where("next_attempt_at IS NOT NULL").
			Order("next_attempt_at").Limit(1).Find(&d).Error
	})
	if err != nil || d.NextAttemptAt == nil {
		return time.Time{}, err
	}
	return *d.NextAttemptAt, nil
}

// pause holds a disabled subscription's pending deliveries (no due time);
// resume makes them due now, with a fresh round of retries.
func pause(tx *gorm.DB, webhookID string) error {
	return tx.Model(&Delivery{}).Where("webhook_id = ? AND status = ? AND claim IS NULL", webhookID, StatusPending).
		Update("next_attempt_at", nil).Error
}

func resume(tx *gorm.DB, webhookID string, now time.Time) error {
	return tx.Model(&Delivery{}).Where("webhook_id = ? AND status = ? AND next_attempt_at IS NULL", webhookID, StatusPending).
		Updates(map[string]any{"next_attempt_at": now, "round_started_at": now}).Error
}
