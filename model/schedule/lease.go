package schedule

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LeaseName is the lease the replica that evaluates schedules holds.
const LeaseName = "scheduler"

// AcquireLease takes or renews lease name for owner until now+ttl, and
// reports whether owner holds it: it does when it held it already, when
// nobody did, or when its holder let it expire (a replica that died stops
// renewing, so another takes over ttl later). The same two statements on
// SQLite and PostgreSQL; the row is the only arbiter.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	held := false
	err := s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		r := tx.Model(&Lease{}).Where("name = ? AND (owner = ? OR expires_at < ?)", name, owner, now).
			Updates(map[string]any{"owner": owner, "expires_at": now.Add(ttl), "renewed_at": now})
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 1 {
			held = true
			return nil
		}
		r = tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Lease{Name: name, Owner: owner, ExpiresAt: now.Add(ttl), RenewedAt: now})
		held = r.Error == nil && r.RowsAffected == 1
		return r.Error
	})
	return held, err
}

// ReleaseLease gives lease name up if owner holds it, so that another
// replica takes over at once rather than when it expires.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.Store.Store.Write(ctx, func(tx *gorm.DB) error {
		return tx.Where("name = ? AND owner = ?", name, owner).Delete(&Lease{}).Error
	})
}

// LeaseHolder is who holds lease name and until when ("" when nobody).
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	var l []Lease
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("name = ?", name).Find(&l).Error })
	if err != nil || len(l) == 0 {
		return "", time.Time{}, err
	}
	return l[0].Owner, l[0].ExpiresAt, nil
}
