package model

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	steward "github.com/stewardhq/steward"
)

// Idempotent creation: a client (typically a CI pipeline) sends a key of its
// choosing with a POST; a retry of the same request with the same key gets the
// first response again instead of creating a second record.
//
// The key is reserved in a row of its own, committed before the request runs;
// the unique (user_id, idempotency_key) constraint is what turns a concurrent
// duplicate into a 409 instead of a second creation. When the request ends its
// response is stored in that row (2xx and 4xx) or the row is deleted (5xx, so
// the client may retry).
//
// Crash window: if the process dies after the creation committed but before
// the response was stored, the row stays reserved with no response. Steward
// cannot tell whether the creation happened, so it never runs such a request
// again: a retry gets 409 "in progress" and, once the reservation is older
// than IdempotencyStaleAfter, 409 "outcome unknown" (the client checks what
// exists and uses a new key). The row is purged with the others after
// IdempotencyTTL, when the key becomes free again.

const (
	// IdempotencyTTL is how long a key is remembered; a key this old is
	// ignored and purged.
	IdempotencyTTL = 24 * time.Hour
	// IdempotencyStaleAfter is the age beyond which a reservation without a
	// response is taken for the remains of a crashed request.
	IdempotencyStaleAfter = 5 * time.Minute
	// IdempotencyKeyMaxLen is the longest key accepted.
	IdempotencyKeyMaxLen = 255
)

// idempotencyMeta names the header in every error about the key: the JSON:API
// `source` object here has room for a pointer or a query parameter only.
var idempotencyMeta = map[string]any{"header": "Idempotency-Key"}

// IdempotencyKey is one key a user sent, the request it was first sent with
// (as a hash) and, once that request finished, its response.
type IdempotencyKey struct {
	ID              string `gorm:"primaryKey"`
	UserID          string // the scope: keys of two users never meet
	Key             string `gorm:"column:idempotency_key"`
	RequestHash     string
	Status          int // 0 while the first request is running
	ResponseHeaders ResponseHeaders
	ResponseBody    []byte
	CreatedAt       time.Time
	CompletedAt     *time.Time
}

// Done reports whether the first request finished and its response is stored.
func (k *IdempotencyKey) Done() bool { return k.CompletedAt != nil }

// ResponseHeaders are the headers of a stored response, as JSON text.
type ResponseHeaders map[string][]string

// Value stores the headers as JSON text; nil becomes {}.
func (h ResponseHeaders) Value() (driver.Value, error) {
	return JSONValue(h == nil, "{}", map[string][]string(h))
}

// Scan reads JSON text or bytes.
func (h *ResponseHeaders) Scan(src any) error {
	return ScanJSON("ResponseHeaders", src, h, ResponseHeaders{})
}

// CheckIdempotencyKey accepts 1 to 255 printable ASCII characters.
func CheckIdempotencyKey(key string) error {
	bad := len(key) == 0 || len(key) > IdempotencyKeyMaxLen
	for i := 0; i < len(key) && !bad; i++ {
		bad = key[i] < 0x20 || key[i] > 0x7e
	}
	if bad {
		return &steward.Error{Kind: steward.KindBadRequest, Code: "invalid_idempotency_key", Meta: idempotencyMeta,
			Detail: "the Idempotency-Key header must be 1 to 255 printable ASCII characters"}
	}
	return nil
}

// IdempotencyRequestHash identifies a request: the same key may only be
// replayed for the same method, path, query and body bytes.
func IdempotencyRequestHash(method, path, query string, body []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(method), []byte(path), []byte(query)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func idempotencyScope(actor *Actor) string {
	if actor != nil && actor.UserID != "" {
		return actor.UserID
	}
	return "user:" + actor.Name()
}

// ReserveIdempotencyKey claims key for the actor's request with hash
// requestHash. It returns:
//   - a fresh reservation (replay false): the caller runs the request, then
//     calls CompleteIdempotencyKey (or ReleaseIdempotencyKey if it cannot);
//   - the finished first request (replay true): its stored response is the answer;
//   - 422 idempotency_key_reused when the key was first sent with another request;
//   - 409 idempotency_key_in_use while the first request runs, and 409
//     idempotency_outcome_unknown when it never finished (see the file comment).
//
// Keys IdempotencyTTL old are purged first, so they are free again.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, actor *Actor, key, requestHash string) (*IdempotencyKey, bool, error) {
	if err := CheckIdempotencyKey(key); err != nil {
		return nil, false, err
	}
	scope := idempotencyScope(actor)
	// A holder may release its key between our insert and our read: try again
	// a few times before calling it busy.
	for attempt := 0; attempt < 3; attempt++ {
		now := s.Now()
		rec := &IdempotencyKey{ID: NewID(), UserID: scope, Key: key, RequestHash: requestHash,
			ResponseHeaders: ResponseHeaders{}, CreatedAt: now}
		var inserted bool
		err := s.Write(ctx, func(tx *gorm.DB) error {
			if _, err := purgeIdempotencyKeys(tx, now); err != nil {
				return err
			}
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(rec)
			inserted = res.RowsAffected == 1
			return res.Error
		})
		if err != nil {
			return nil, false, err
		}
		if inserted {
			return rec, false, nil
		}
		var prev IdempotencyKey
		err = s.Read(ctx, func(db *gorm.DB) error {
			return db.Where("user_id = ? AND idempotency_key = ?", scope, key).Take(&prev).Error
		})
		if steward.ErrorKind(err) == steward.KindNotFound {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if !prev.CreatedAt.After(now.Add(-IdempotencyTTL)) {
			continue // expired; the next attempt purges it
		}
		if prev.RequestHash != requestHash {
			return nil, false, &steward.Error{Kind: steward.KindInvalid, Code: "idempotency_key_reused", Meta: idempotencyMeta,
				Detail: "this Idempotency-Key was first sent with a different request (method, path or body); use a new key for a new request"}
		}
		if prev.Done() {
			return &prev, true, nil
		}
		if now.Sub(prev.CreatedAt) >= IdempotencyStaleAfter {
			return nil, false, &steward.Error{Kind: steward.KindConflict, Code: "idempotency_outcome_unknown", Meta: idempotencyMeta,
				Detail: "the first request with this Idempotency-Key (started " + prev.CreatedAt.UTC().Format(time.RFC3339) +
					") did not finish; its outcome is unknown, so it is not run again: check what it created, then use a new key"}
		}
		return nil, false, errKeyInUse()
	}
	return nil, false, errKeyInUse()
}

func errKeyInUse() error {
	return &steward.Error{Kind: steward.KindConflict, Code: "idempotency_key_in_use", Meta: idempotencyMeta,
		Detail: "a request with this Idempotency-Key is still being processed; retry once it has finished"}
}

// CompleteIdempotencyKey stores the response of the reserved request, so
// retries replay it. Server errors (status >= 500) are not stored: the key is
// released so that the client may try again.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, rec *IdempotencyKey, status int, header ResponseHeaders, body []byte) error {
	if status >= 500 {
		return s.ReleaseIdempotencyKey(ctx, rec)
	}
	if header == nil {
		header = ResponseHeaders{}
	}
	if body == nil {
		body = []byte{}
	}
	now := s.Now()
	err := s.Write(ctx, func(tx *gorm.DB) error {
		return tx.Model(&IdempotencyKey{}).Where("id = ? AND completed_at IS NULL", rec.ID).
			Updates(map[string]any{"status": status, "response_headers": header, "response_body": body, "completed_at": now}).Error
	})
	if err != nil {
		return err
	}
	rec.Status, rec.ResponseHeaders, rec.ResponseBody, rec.CompletedAt = status, header, body, &now
	return nil
}

// ReleaseIdempotencyKey drops a reservation whose request stored nothing, so
// the key is free again.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, rec *IdempotencyKey) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		return tx.Where("id = ? AND completed_at IS NULL", rec.ID).Delete(&IdempotencyKey{}).Error
	})
}

// PurgeIdempotencyKeys deletes keys IdempotencyTTL old or older and returns how
// many went. Reservations purge as they go; this is for housekeeping.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx *gorm.DB) (err error) {
		n, err = purgeIdempotencyKeys(tx, s.Now())
		return err
	})
	return n, err
}

func purgeIdempotencyKeys(tx *gorm.DB, now time.Time) (int64, error) {
	res := tx.Where("created_at <= ?", now.Add(-IdempotencyTTL)).Delete(&IdempotencyKey{})
	return res.RowsAffected, res.Error
}
