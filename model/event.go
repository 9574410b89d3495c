package model

import (
	"context"
	"slices"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
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
	NodeID     *string // the node the record belongs to: who may read the node may read the event
	Attributes JSONMap
	CreatedAt  time.Time
}

// EventSource names the record an event is about.
type EventSource struct {
	Type string // project, environment, asset, step, ...
	ID   string
	Path string // the record's path: a node path, /changes/<id>, /steps/<id>
	// NodeID is the node the record belongs to ("" for users, tokens,
	// policies: events only /events readers see).
	NodeID string
}

// ReservedEventAttributes are set by Steward on every event; stored attributes
// never override them.
var ReservedEventAttributes = []string{"type", "username", "system", "created_at"}

// Record writes an event inside tx, with its webhook deliveries (see
// event_outbox.go). attrs may be nil.
func (s *Store) Record(tx *gorm.DB, actor *Actor, typ string, src *EventSource, attrs JSONMap) error {
	return s.RecordAll(tx, []*Event{s.NewEvent(actor, typ, src, attrs)}, nil)
}

// RecordAll writes events built with NewEvent inside tx: the one way events
// are stored. insert writes the rows (the scheduler's multi-row INSERTs);
// nil means GORM's.
func (s *Store) RecordAll(tx *gorm.DB, events []*Event, insert func(*gorm.DB, []*Event) error) error {
	if len(events) == 0 {
		return nil
	}
	if insert == nil {
		for _, ev := range events {
			if err := s.insertEvent(tx, ev); err != nil {
				return err
			}
		}
		return nil
	}
	if err := insert(tx, events); err != nil {
		return err
	}
	return s.outboxFor(tx, events)
}

// NewEvent is the event Record writes, for RecordAll to write with others.
func (s *Store) NewEvent(actor *Actor, typ string, src *EventSource, attrs JSONMap) *Event {
	ev := &Event{ID: NewID(), Type: typ, Username: actor.Name(), System: actor.IsSystem(), Attributes: attrs, CreatedAt: s.Now()}
	if src != nil {
		ev.SourceType, ev.SourceID, ev.SourcePath = &src.Type, &src.ID, &src.Path
		if src.NodeID != "" {
			ev.NodeID = &src.NodeID
		}
	}
	if ev.Attributes == nil {
		ev.Attributes = JSONMap{}
	}
	return ev
}

// EventsPath is the rule path for the events that belong to no node (users,
// tokens, policies, custom events); an event about a node is readable by
// whoever may read the node.
const EventsPath = "/events"

// eventsQuery is the event list the context's actor may read, filtered in SQL.
func (s *Store) eventsQuery(ctx context.Context, db *gorm.DB) *gorm.DB {
	db = db.Model(&Event{})
	nodes, all := s.ReadableNodes(ctx)
	loose := CanRead(ctx, EventsPath)
	switch {
	case all && loose:
		return db
	case all:
		return db.Where("node_id IS NOT NULL")
	case loose:
		return db.Where("node_id IS NULL OR node_id IN (?)", nodes)
	}
	return db.Where("node_id IN (?)", nodes)
}

// EventFilters are the attributes an event list may filter and sort by (attribute -> column).
var EventFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "type": {Column: "type"}, "username": {Column: "username"},
	"system":     {Column: "system", Kind: listquery.Bool},
	"created_at": {Column: "created_at", Kind: listquery.Time},
}

// EventList is eventsQuery as a list source.
func (s *Store) EventList() Source[Event] {
	return NewSource[Event](s, "id", func(db *gorm.DB) *gorm.DB { return db }).scoped(s.eventsQuery)
}

// EventByID loads one event; an id that is not a UUID is simply not found.
func (s *Store) EventByID(ctx context.Context, id string) (*Event, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("event", id)
	}
	var ev Event
	err := s.Read(ctx, func(db *gorm.DB) error { return s.eventsQuery(ctx, db).Where("id = ?", id).Take(&ev).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("event", id)
	}
	return &ev, err
}

// CreateEvent records a custom event (a client's own audit entry) with free-form
// attributes. The type is required (422 on /data/attributes/type); the reserved
// attributes are Steward's to set (422 when sent).
func (s *Store) CreateEvent(ctx context.Context, actor *Actor, typ string, attrs JSONMap) (*Event, error) {
	if err := actor.Require(authz.Update, EventsPath); err != nil {
		return nil, err
	}
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
	ev := s.NewEvent(actor, typ, nil, attrs)
	if err := s.Write(ctx, func(tx *gorm.DB) error { return s.insertEvent(tx, ev) }); err != nil {
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
