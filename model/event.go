package model

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/db"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Event is one entry of the audit trail: every modifying request records one
// in the same transaction as the change it describes.
type Event struct {
	ID         string `gorm:"primaryKey"`
	Type       string
	Username   string
	System     bool
	SourceType *string
	SourceID   *string
	SourcePath *string `gorm:"column:source_link"` // the record's path; the API renders it as a link
	Attributes JSONMap
	CreatedAt  time.Time
}

// EventSource names the record an event is about.
type EventSource struct {
	Type string // project, environment, asset, step, ...
	ID   string
	Path string // the record's path: a node path, /changes/<id>, /steps/<id>
}

// ReservedEventAttributes are set by Steward on every event; stored attributes
// never override them.
var ReservedEventAttributes = []string{"type", "username", "system", "created_at"}

// Record writes an event inside tx, with its webhook deliveries (see
// outbox). attrs may be nil.
func (s *Store) Record(tx *gorm.DB, actor *Actor, typ string, src *EventSource, attrs JSONMap) error {
	return s.insertEvent(tx, s.newEvent(actor, typ, src, attrs))
}

func (s *Store) newEvent(actor *Actor, typ string, src *EventSource, attrs JSONMap) *Event {
	ev := &Event{ID: NewID(), Type: typ, Username: actor.Name(), System: actor.IsSystem(), Attributes: attrs, CreatedAt: s.Now()}
	if src != nil {
		ev.SourceType, ev.SourceID, ev.SourcePath = &src.Type, &src.ID, &src.Path
	}
	if ev.Attributes == nil {
		ev.Attributes = JSONMap{}
	}
	return ev
}

// eventsQuery is the event list. Every authenticated caller reads the whole
// audit trail: Steward has no per-node read rules yet.
func eventsQuery(db *gorm.DB) *gorm.DB { return db.Model(&Event{}) }

// EventFilters are the attributes an event list may filter and sort by (attribute -> column).
var EventFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "type": {Column: "type"}, "username": {Column: "username"},
	"system":     {Column: "system", Kind: listquery.Bool},
	"created_at": {Column: "created_at", Kind: listquery.Time},
}

// EventList is eventsQuery as a list source.
func (s *Store) EventList() Source[Event] {
	return NewSource[Event](s, "id", func(db *gorm.DB) *gorm.DB { return eventsQuery(db) })
}

// EventByID loads one event; an id that is not a UUID is simply not found.
func (s *Store) EventByID(ctx context.Context, id string) (*Event, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("event", id)
	}
	var ev Event
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ?", id).Take(&ev).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("event", id)
	}
	return &ev, err
}

// CreateEvent records a custom event (a client's own audit entry) with free-form
// attributes. The type is required (422 on /data/attributes/type); the reserved
// attributes are Steward's to set (422 when sent).
func (s *Store) CreateEvent(ctx context.Context, actor *Actor, typ string, attrs JSONMap) (*Event, error) {
	if typ == "" {
		return nil, steward.Invalid("type", "required", "type is required and must not be empty")
	}
	if len(typ) > 200 {
		return nil, steward.Invalid("type", "too_long", "type must be at most 200 characters")
	}
	for _, k := range ReservedEventAttributes {
		if _, ok := attrs[k]; ok && k != "type" {
			return nil, steward.Invalid(""+k, "reserved_attribute", "%s is set by Steward and cannot be sent", k)
		}
	}
	delete(attrs, "type")
	ev := s.newEvent(actor, typ, nil, attrs)
	err := s.Write(ctx, func(tx *gorm.DB) error { return s.insertEvent(tx, ev) })
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// LatestEvents reads the newest q.Limit events of src matching q's filters
// (walking the created_at index backwards) and returns them oldest first:
// what the reader of an audit trail wants from "the last 10 events".
func LatestEvents(ctx context.Context, src Source[Event], q listquery.List) (Page[Event], error) {
	var rows []Event
	n := q.Limit
	if err := where(src.db(ctx), q).Order("created_at DESC").Order("id DESC").Limit(n + 1).Find(&rows).Error; err != nil {
		return Page[Event]{}, TranslateError(err)
	}
	more := len(rows) > n
	if more {
		rows = rows[:n]
	}
	slices.Reverse(rows)
	return Page[Event]{Rows: rows, More: more}, nil
}

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
// of subscriptions, with no per-process cache to go stale across replicas.
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
			attrs, ev.CreatedAt, ev.ID[:24], ev.Type, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt, ev.CreatedAt}, match...)...)
		if res.Error != nil {
			return res.Error
		}
		wrote = res.RowsAffected
	} else {
		if err := tx.Create(ev).Error; err != nil {
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

// outboxWhere selects the subscriptions an event matches; its parameters
// are the event type, then the node path and change id twice.
const outboxWhere = `
FROM webhooks w
WHERE w.enabled
  AND EXISTS (SELECT 1 FROM webhook_event_types p WHERE p.webhook_id = w.id AND %s)
  AND (w.path_prefix = ''
    OR COALESCE(?, (SELECT n.path FROM changes c JOIN nodes n ON n.id = c.node_id WHERE c.id = %s)) = w.path_prefix
    OR substr(COALESCE(?, (SELECT n.path FROM changes c JOIN nodes n ON n.id = c.node_id WHERE c.id = %s)), 1, length(w.path_prefix) + 1) = w.path_prefix || '/')`

var (
	outboxSQLite = `INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, round_started_at, created_at, updated_at)
SELECT ? || lower(hex(randomblob(6))), w.id, ?, ?, 'pending', 0, ?, ?, ?, ?` +
		fmt.Sprintf(outboxWhere, "? GLOB p.glob", "?", "?")
	// PostgreSQL: the event, its deliveries and, when there are any, the
	// NOTIFY (sent at commit) in one statement, one round trip.
	outboxPostgres = `WITH ev AS (
  INSERT INTO events (id, type, username, system, source_type, source_id, source_link, attributes, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id),
outbox AS (
INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, round_started_at, created_at, updated_at)
SELECT (?::text || substr(md5(random()::text), 1, 12))::uuid, w.id, ev.id, ?, 'pending', 0, ?, ?, ?, ?` +
		strings.Replace(fmt.Sprintf(outboxWhere, `?::text LIKE p.type_like ESCAPE '\'`, "?::uuid", "?::uuid"), "FROM webhooks w", "FROM ev, webhooks w", 1) +
		`
RETURNING 1)
SELECT pg_notify('` + OutboxChannel + `', '') FROM (SELECT 1 FROM outbox LIMIT 1) AS any_delivery`
)
