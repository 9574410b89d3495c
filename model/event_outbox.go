package model

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/db"
)

// The transactional outbox: every event's webhook deliveries are written
// in the event's own transaction (see RecordAll).

// OutboxChannel is the PostgreSQL NOTIFY channel an event transaction that
// wrote webhook deliveries signals at its commit, so that delivery services
// on every replica wake at once.
const OutboxChannel = "steward_webhooks"

// Outbox is notified in this process whenever an event transaction wrote
// webhook deliveries. It fires just before that commit: on SQLite the
// delivery service's claim (BEGIN IMMEDIATE) then queues behind the writer
// and reads the committed rows; on PostgreSQL the NOTIFY, delivered at
// commit, is what wakes the services.
func (s *Store) Outbox() *Signal { return s.deliveries }

// insertEvent writes ev and, in the same statement on PostgreSQL (a
// round trip is most of a statement's cost there), its outbox: one pending
// delivery per enabled webhook subscription the event matches (type
// pattern, node path prefix), by one INSERT ... SELECT whatever the number
// of subscriptions. On SQLite that statement is skipped when no enabled
// subscription's type pattern matches (see outboxCache: never stale, even
// across replicas).
// A crash after the commit loses nothing: the rows wait for a delivery
// service.
//
// The delivery id is the event id's first 24 characters (a UUIDv7's time
// and sequence, so deliveries sort like their events) and 12 random hex
// digits per row. The node an event is about is its source path when that
// is a node, its "node" attribute, or else the node of the change it names.
func (s *Store) insertEvent(tx *gorm.DB, ev *Event) error {
	nodePath, changeID := eventNode(ev)
	match := []any{ev.Type, nodePath, changeID, nodePath, changeID}
	var wrote int64
	if db.DialectOf(tx) == db.Postgres {
		attrs, err := ev.Attributes.Value()
		if err != nil {
			return err
		}
		// RowsAffected is 1 when deliveries were written (the NOTIFY's row).
		res := tx.Exec(outboxPostgres, append([]any{ev.ID, ev.Type, ev.Username, ev.System, ev.SourceType, ev.SourceID, ev.SourcePath,
			ev.NodeID, attrs, ev.CreatedAt, ev.ID[:24], ev.Type, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt}, match...)...)
		if res.Error != nil {
			return res.Error
		}
		wrote = res.RowsAffected
	} else {
		if err := tx.Create(ev).Error; err != nil {
			return err
		}
		if may, err := s.mayMatch(tx, ev.Type); err != nil || !may {
			return err
		}
		// Straight to the connection: GORM's statement machinery would cost
		// as much again as the statement.
		r, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, outboxSQLite,
			append([]any{ev.ID[:24], ev.ID, ev.Type, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt}, match...)...)
		if err != nil {
			return err
		}
		if wrote, err = r.RowsAffected(); err != nil {
			return err
		}
	}
	if wrote > 0 && s.deliveries != nil {
		s.deliveries.Notify()
	}
	return nil
}

// eventNode is what the outbox matches a subscription's path prefix
// against: the node path an event names, or the change whose node it is.
func eventNode(ev *Event) (nodePath, changeID *string) {
	if ev.SourcePath != nil && strings.HasPrefix(*ev.SourcePath, "/projects/") {
		nodePath = ev.SourcePath
	} else if p, ok := ev.Attributes["node"].(string); ok && strings.HasPrefix(p, "/projects/") {
		nodePath = &p
	}
	if ev.SourceType != nil && *ev.SourceType == "change" {
		changeID = ev.SourceID
	} else if id, ok := ev.Attributes["change_id"].(string); ok {
		changeID = &id
	}
	// A custom event's attributes are the client's: only an id is looked up.
	if changeID != nil {
		if _, ok := steward.ParseID(*changeID); !ok {
			changeID = nil
		}
	}
	return nodePath, changeID
}

// outboxWhere selects the subscriptions an event matches, given (as
// fmt arguments) the type match, the node path and the change id; with
// placeholders, its parameters are the event type, then the node path and
// change id twice.
const outboxWhere = `
FROM webhooks w
WHERE w.enabled
  AND EXISTS (SELECT 1 FROM webhook_event_types p WHERE p.webhook_id = w.id AND %[1]s)
  AND (w.path_prefix = ''
    OR COALESCE(%[2]s, (SELECT n.path FROM changes c JOIN nodes n ON n.id = c.node_id WHERE c.id = %[3]s)) = w.path_prefix
    OR substr(COALESCE(%[2]s, (SELECT n.path FROM changes c JOIN nodes n ON n.id = c.node_id WHERE c.id = %[3]s)), 1, length(w.path_prefix) + 1) = w.path_prefix || '/')`

var (
	outboxSQLite = `INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, round_started_at, created_at, updated_at)
SELECT ? || lower(hex(randomblob(6))), w.id, ?, ?, 'pending', 0, ?, ?, ?, ?` +
		fmt.Sprintf(outboxWhere, "? GLOB p.glob", "?", "?")
	// PostgreSQL: the event, its deliveries and, when there are any, the
	// NOTIFY (sent at commit) in one statement, one round trip.
	// PostgreSQL, for events already written (RecordAll's batches).
	outboxOnlyPostgres = `WITH outbox AS (
INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, round_started_at, created_at, updated_at)
SELECT (?::text || substr(md5(random()::text), 1, 12))::uuid, w.id, ?::uuid, ?, 'pending', 0, ?, ?, ?, ?` +
		fmt.Sprintf(outboxWhere, `?::text LIKE p.type_like ESCAPE '\'`, "?", "?::uuid") + `
RETURNING 1)
SELECT pg_notify('` + OutboxChannel + `', '') FROM (SELECT 1 FROM outbox LIMIT 1) AS any_delivery`
	outboxPostgres = `WITH ev AS (
  INSERT INTO events (id, type, username, system, source_type, source_id, source_link, node_id, attributes, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id),
outbox AS (
INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, round_started_at, created_at, updated_at)
SELECT (?::text || substr(md5(random()::text), 1, 12))::uuid, w.id, ev.id, ?, 'pending', 0, ?, ?, ?, ?` +
		strings.Replace(fmt.Sprintf(outboxWhere, `?::text LIKE p.type_like ESCAPE '\'`, "?", "?::uuid"), "FROM webhooks w", "FROM ev, webhooks w", 1) +
		`
RETURNING 1)
SELECT pg_notify('` + OutboxChannel + `', '') FROM (SELECT 1 FROM outbox LIMIT 1) AS any_delivery`
)

// outboxFor writes the deliveries of events already stored (by RecordAll's
// insert): one statement for them all when no subscription is enabled,
// else one per event, as insertEvent's.
func (s *Store) outboxFor(tx *gorm.DB, events []*Event) error {
	if db.DialectOf(tx) == db.Postgres {
		var enabled []int
		if err := tx.Raw("SELECT 1 FROM webhooks WHERE enabled LIMIT 1").Scan(&enabled).Error; err != nil || len(enabled) == 0 {
			return err
		}
	}
	var wrote int64
	for _, ev := range events {
		if db.DialectOf(tx) != db.Postgres {
			if may, err := s.mayMatch(tx, ev.Type); err != nil {
				return err
			} else if !may {
				continue
			}
		}
		nodePath, changeID := eventNode(ev)
		match := []any{ev.Type, nodePath, changeID, nodePath, changeID}
		sql := outboxSQLite
		if db.DialectOf(tx) == db.Postgres {
			sql = outboxOnlyPostgres
		}
		res := tx.Exec(sql, append([]any{ev.ID[:24], ev.ID, ev.Type, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt}, match...)...)
		if res.Error != nil {
			return res.Error
		}
		wrote += res.RowsAffected
	}
	if wrote > 0 && s.deliveries != nil {
		s.deliveries.Notify()
	}
	return nil
}

// outboxCache holds the type patterns of the enabled subscriptions as of a
// generation: the webhook_generation row, which every subscription write
// sets to a new random value in its own transaction (random, not counted
// up, so that a rolled-back write's value can never come back meaning
// other patterns). On SQLite an event's transaction reads that one row
// (a few µs) instead of running the outbox INSERT ... SELECT (parsed
// afresh every time, a fifth of a small write request) when no pattern can
// match. Being read inside the event's write transaction, it is never
// stale: SQLite has one writer at a time, so no subscription write can
// commit between the read and the event's commit. PostgreSQL keeps the
// one-statement form, where the outbox rides on the event's round trip.
type outboxCache struct {
	mu         sync.Mutex
	generation int64
	loaded     bool
	globs      []string
}

// mayMatch reports whether an enabled subscription has a type pattern
// matching typ (its path prefix is left to the outbox statement).
func (s *Store) mayMatch(tx *gorm.DB, typ string) (bool, error) {
	c := s.patterns
	if c == nil {
		return true, nil
	}
	ctx, pool := tx.Statement.Context, tx.Statement.ConnPool
	var gen int64
	if err := pool.QueryRowContext(ctx, "SELECT generation FROM webhook_generation").Scan(&gen); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded || c.generation != gen {
		rows, err := pool.QueryContext(ctx, "SELECT p.glob FROM webhook_event_types p JOIN webhooks w ON w.id = p.webhook_id WHERE w.enabled")
		if err != nil {
			return false, err
		}
		defer func() { _ = rows.Close() }()
		var globs []string
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				return false, err
			}
			globs = append(globs, g)
		}
		if err := rows.Err(); err != nil {
			return false, err
		}
		c.globs, c.generation, c.loaded = globs, gen, true
	}
	for _, g := range c.globs {
		if GlobMatch(g, typ) {
			return true, nil
		}
	}
	return false, nil
}

// GlobMatch is SQLite's GLOB for a subscription's type pattern, where * is
// the only special character (patterns allow no ? or [): * matches any run
// of characters, everything else itself, case-sensitively.
func GlobMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// ChangedSubscriptions marks the enabled subscriptions' patterns changed in
// tx (every subscription write calls it), so that every process's outbox
// cache reloads them.
func ChangedSubscriptions(tx *gorm.DB) error {
	return tx.Exec("UPDATE webhook_generation SET generation = ?", rand.Int64()).Error
}
