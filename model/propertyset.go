package model

import (
	"time"

	"gorm.io/gorm"
)

// Property set kinds: every node owns one of each.
const (
	KindProperties = "properties"
	KindSettings   = "settings"
)

// PropertySet is a node's versioned JSON document: its properties or its
// settings. Version counts the writes; every write also stores a PropertySetVersion.
type PropertySet struct {
	ID        string `gorm:"primaryKey"`
	Kind      string
	OwnerType string
	OwnerID   string
	Data      JSONMap
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PropertySetVersion is one historical value of a PropertySet.
type PropertySetVersion struct {
	ID            string `gorm:"primaryKey"`
	PropertySetID string
	Version       int
	Data          JSONMap
	StepID        *string
	CreatedBy     string
	CreatedAt     time.Time
}

// newPropertySet creates a set at version 1 with its first version row.
func (s *Store) newPropertySet(tx *gorm.DB, kind, ownerType, ownerID, by string, data JSONMap) (*PropertySet, error) {
	now := s.Now()
	if data == nil {
		data = JSONMap{}
	}
	ps := &PropertySet{ID: NewID(), Kind: kind, OwnerType: ownerType, OwnerID: ownerID, Data: data, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(ps).Error; err != nil {
		return nil, err
	}
	v := &PropertySetVersion{ID: NewID(), PropertySetID: ps.ID, Version: 1, Data: data, CreatedBy: by, CreatedAt: now}
	return ps, tx.Create(v).Error
}
