package run

import (
	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
)

// What the schedule package composes into its own transactions: the same
// rules a change follows, read through the caller's tx.

// NodeOpen refuses a node that is archived or sits below an archived one
// (a 422 archived_node naming which).
func NodeOpen(db *gorm.DB, n *model.Node) error { return nodeOpen(db, n) }

// ParallelSettings is allow_parallel for node, each key from the nearest of
// the node, its environment and its project that sets it.
func ParallelSettings(db *gorm.DB, n *model.Node) (model.Settings, error) {
	return parallelSettings(db, n)
}

// ChangeActive reports whether change id exists and has not ended.
func ChangeActive(db *gorm.DB, id string) (bool, error) {
	var statuses []string
	if err := db.Model(&Change{}).Where("id = ?", id).Pluck("status", &statuses).Error; err != nil {
		return false, err
	}
	return len(statuses) == 1 && !Terminal(statuses[0]), nil
}
