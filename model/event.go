package model

import (
	"time"

	"gorm.io/gorm"
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
	SourceLink *string
	Attributes JSONMap
	CreatedAt  time.Time
}

// EventSource names the record an event is about.
type EventSource struct {
	Type string // project, environment, asset, step, ...
	ID   string
	Link string // API path of the record
}

// Record writes an event inside tx. attrs may be nil.
func (s *Store) Record(tx *gorm.DB, actor *Actor, typ string, src *EventSource, attrs JSONMap) error {
	ev := Event{ID: NewID(), Type: typ, Username: actor.Name(), System: actor.IsSystem(), Attributes: attrs, CreatedAt: s.Now()}
	if src != nil {
		ev.SourceType, ev.SourceID, ev.SourceLink = &src.Type, &src.ID, &src.Link
	}
	if ev.Attributes == nil {
		ev.Attributes = JSONMap{}
	}
	return tx.Create(&ev).Error
}
