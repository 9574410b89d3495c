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

// Again is another change like p, checked against the same node and commit
// at the same moment, with new ids, created now, and the given creator,
// metadata and property overrides: a scheduler firing many activities of
// one action on one node at one instant reads Git once for all of them.
// Insert it like p.
func (p *PreparedChange) Again(actor *model.Actor, metadata, overrides model.JSONMap) *PreparedChange {
	now := p.store.Now()
	c := *p.Change
	c.ID, c.CreatedAt, c.UpdatedAt = model.NewID(), now, now
	c.CreatedBy = actor.Name()
	c.Metadata, c.PropertyOverrides = orEmpty(metadata), orEmpty(overrides)
	ids := make(map[string]string, len(p.steps))
	steps := make([]*Step, len(p.steps))
	for i, st := range p.steps {
		cp := *st
		cp.ID, cp.ChangeID, cp.CreatedAt, cp.UpdatedAt = model.NewID(), c.ID, now, now
		ids[st.ID] = cp.ID
		steps[i] = &cp
	}
	for _, st := range steps {
		if st.ParentID != nil {
			parent := ids[*st.ParentID]
			st.ParentID = &parent
		}
	}
	return &PreparedChange{Change: &c, steps: steps, actor: actor, node: p.node, store: p.store}
}

// InsertAll writes prepared changes in tx as Insert writes each (node still
// open, change, steps, api:changes:create event), with one statement for
// all their changes and one for all their steps: a scheduler firing many
// activities at one instant commits them in a few round trips.
func InsertAll(tx *gorm.DB, ps []*PreparedChange) error {
	const insertRows = 16
	if len(ps) == 0 {
		return nil
	}
	checked := map[string]bool{}
	changes := make([]*Change, len(ps))
	var steps []*Step
	for i, p := range ps {
		if !checked[p.node.ID] {
			checked[p.node.ID] = true
			if err := nodeOpen(tx, p.node); err != nil {
				return err
			}
		}
		changes[i] = p.Change
		steps = append(steps, p.steps...)
	}
	// Small statements: the SQLite driver binds parameters in time that
	// grows with the square of their number.
	if err := tx.CreateInBatches(changes, insertRows).Error; err != nil {
		return err
	}
	if err := tx.CreateInBatches(steps, insertRows).Error; err != nil {
		return err
	}
	for _, p := range ps {
		if err := p.recordCreate(tx); err != nil {
			return err
		}
	}
	return nil
}
