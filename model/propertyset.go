package model

import (
	"context"
	"strconv"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
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

// ValidPropertySetKind reports whether kind names a property set kind.
func ValidPropertySetKind(kind string) bool { return kind == KindProperties || kind == KindSettings }

// PropertySetWithOwner is a set and the node it belongs to, whose path every
// rendering of the set links to.
type PropertySetWithOwner struct {
	*PropertySet
	Owner *Node
}

// GetPropertySet loads the set id of kind with its owner. A missing id, a
// malformed one, or the id of the other kind is a 404.
func (s *Store) GetPropertySet(ctx context.Context, kind, id string) (*PropertySetWithOwner, error) {
	var out *PropertySetWithOwner
	err := s.Read(ctx, func(db *gorm.DB) error {
		var err error
		out, err = loadPropertySet(db, kind, id)
		return err
	})
	if err == nil {
		err = AuthoriseRead(ctx, out.Owner.Path+"/"+kind, kind, id)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func loadPropertySet(db *gorm.DB, kind, id string) (*PropertySetWithOwner, error) {
	// A non-UUID would be a type error on PostgreSQL's uuid column, not a miss.
	id, ok := steward.ParseID(id)
	if !ok || !ValidPropertySetKind(kind) {
		return nil, steward.NotFound(kind, id)
	}
	var ps PropertySet
	if err := db.Where("id = ? AND kind = ?", id, kind).Take(&ps).Error; err != nil {
		if ModelNotFound(TranslateError(err)) {
			return nil, steward.NotFound(kind, id)
		}
		return nil, err
	}
	var owner Node
	if err := db.Where("id = ?", ps.OwnerID).Take(&owner).Error; err != nil {
		return nil, err
	}
	return &PropertySetWithOwner{PropertySet: &ps, Owner: &owner}, nil
}

// PropertySetUpdate is one write of a set's document. Data replaces the whole
// document (the reference's PATCH sets data). ExpectedVersion, when set, must
// equal the current version or nothing is written.
type PropertySetUpdate struct {
	Data            JSONMap
	ExpectedVersion *int
}

// UpdatePropertySet writes a new version of the set id of kind: bumps version,
// stores the version row and records api:<kind>:update against the owning
// node, all in one transaction. The version bump is a conditional UPDATE, so of
// concurrent writers expecting the same version exactly one succeeds; the
// others get 422 stale_version with meta.current_version.
func (s *Store) UpdatePropertySet(ctx context.Context, actor *Actor, kind, id string, in PropertySetUpdate) (*PropertySetWithOwner, error) {
	if err := validatePropertySetData(kind, in.Data); err != nil {
		return nil, err
	}
	id, ok := steward.ParseID(id)
	if !ok || !ValidPropertySetKind(kind) {
		return nil, steward.NotFound(kind, id)
	}
	if !actor.IsSystem() {
		// Where a set lives never changes, so deciding before the write is safe.
		set, err := s.GetPropertySet(WithActor(ctx, actor), kind, id)
		if err != nil {
			return nil, err
		}
		if err := actor.Authorise(authz.Update, set.Owner.Path+"/"+kind, kind, id); err != nil {
			return nil, err
		}
	}
	var out *PropertySetWithOwner
	err := s.Write(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		q := tx.Model(&PropertySet{}).Where("id = ? AND kind = ?", id, kind)
		if in.ExpectedVersion != nil {
			q = q.Where("version = ?", *in.ExpectedVersion)
		}
		res := q.Updates(map[string]any{"version": gorm.Expr("version + 1"), "data": in.Data, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return s.whyNotUpdated(tx, kind, id, in.ExpectedVersion)
		}
		// The UPDATE holds the row until commit, so this read sees our version
		// and no other writer's.
		var err error
		if out, err = loadPropertySet(tx, kind, id); err != nil {
			return err
		}
		v := &PropertySetVersion{ID: NewID(), PropertySetID: id, Version: out.Version, Data: in.Data, CreatedBy: actor.Name(), CreatedAt: now}
		if err := tx.Create(v).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:"+kind+":update", out.Owner.EventSource(),
			JSONMap{kind + "_id": id, "version": out.Version})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// whyNotUpdated tells a missing set (404) from a stale expected version (422).
func (s *Store) whyNotUpdated(tx *gorm.DB, kind, id string, expected *int) error {
	var ps PropertySet
	err := tx.Select("id", "version").Where("id = ? AND kind = ?", id, kind).Take(&ps).Error
	if ModelNotFound(TranslateError(err)) {
		return steward.NotFound(kind, id)
	}
	if err != nil {
		return err
	}
	want := 0
	if expected != nil {
		want = *expected
	}
	return &steward.Error{Kind: steward.KindInvalid, Code: "stale_version", Field: "version",
		Detail: "version mismatch: the " + kind + " are at version " + strconv.Itoa(ps.Version) +
			" but this change was made to version " + strconv.Itoa(want) + "; fetch the latest version and reapply the change",
		Meta: map[string]any{"current_version": ps.Version, "expected_version": want}}
}

// validatePropertySetData checks a document before it is written: both kinds
// must be objects; settings keys and value types are checked too.
func validatePropertySetData(kind string, data JSONMap) error {
	if data == nil {
		return steward.Invalid("data", "invalid_type", "data must be an object")
	}
	if kind == KindSettings {
		return ValidateSettings(data)
	}
	return nil
}

// propertySetVersionsQuery scopes version rows to one set.
func propertySetVersionsQuery(db *gorm.DB, ps *PropertySet) *gorm.DB {
	return db.Model(&PropertySetVersion{}).Where("property_set_id = ?", ps.ID)
}

// PropertySetVersionFilters are the attributes a properties or settings version list may filter and sort by (attribute -> column).
var PropertySetVersionFilters = map[string]listquery.Field{
	"version":    {Column: "version", Kind: listquery.Int},
	"created_at": {Column: "created_at", Kind: listquery.Time},
}

// PropertySetVersionList is propertySetVersionsQuery as a list source.
func (s *Store) PropertySetVersionList(ps *PropertySet) Source[PropertySetVersion] {
	return NewSource[PropertySetVersion](s, "id", func(db *gorm.DB) *gorm.DB { return propertySetVersionsQuery(db, ps) })
}

// GetPropertySetVersion loads version n of ps; 404 names the version when missing.
func (s *Store) GetPropertySetVersion(ctx context.Context, ps *PropertySet, n string) (*PropertySetVersion, error) {
	num, err := strconv.Atoi(n)
	if err != nil || num < 1 {
		return nil, &steward.Error{Kind: steward.KindNotFound, Code: "not_found",
			Detail: "version " + strconv.Quote(n) + " of " + ps.Kind + " " + strconv.Quote(ps.ID) + " was not found; versions are numbered from 1"}
	}
	var v PropertySetVersion
	err = s.Read(ctx, func(db *gorm.DB) error {
		return propertySetVersionsQuery(db, ps).Where("version = ?", num).Take(&v).Error
	})
	if ModelNotFound(err) {
		return nil, &steward.Error{Kind: steward.KindNotFound, Code: "not_found",
			Detail: "version " + strconv.Itoa(num) + " of " + ps.Kind + " " + strconv.Quote(ps.ID) +
				" was not found; the current version is " + strconv.Itoa(ps.Version)}
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}
