package run

import (
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
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

// ChangesActive is, of the changes ids, those that exist and have not
// ended (the overlap rule of many activities, in one query per few hundred).
func ChangesActive(db *gorm.DB, ids []string) (map[string]bool, error) {
	const perQuery = 500
	active := map[string]bool{}
	for from := 0; from < len(ids); from += perQuery {
		var rows []Change
		if err := db.Select("id", "status").Where("id IN ?", ids[from:min(from+perQuery, len(ids))]).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, c := range rows {
			if !Terminal(c.Status) {
				active[c.ID] = true
			}
		}
	}
	return active, nil
}

// NodesClosed is, of nodes (by id), those NodeOpen refuses, with its
// reason: one query for all of them, and NodeOpen's own for those it finds
// archived (rare: archiving a node disables its activities).
func NodesClosed(db *gorm.DB, nodes map[string]*model.Node) (map[string]string, error) {
	closed := map[string]string{}
	var paths []string
	seen := map[string]bool{}
	for _, n := range nodes {
		for _, p := range model.Lineage(n.Path) {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	if len(paths) == 0 {
		return closed, nil
	}
	var archived []string
	if err := db.Model(&model.Node{}).Where("path IN ? AND archived = ?", paths, true).Pluck("path", &archived).Error; err != nil {
		return nil, err
	}
	if len(archived) == 0 {
		return closed, nil
	}
	for id, n := range nodes {
		err := nodeOpen(db, n)
		if steward.ErrorKind(err) == steward.KindInvalid {
			closed[id] = steward.AsError(err).Detail
		} else if err != nil {
			return nil, err
		}
	}
	return closed, nil
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

// InsertAll writes prepared changes in tx as Insert writes each (change,
// steps, api:changes:create event), created at now, with one statement for
// many changes, one for many steps and one for many events: a scheduler
// firing many activities at one instant commits them in a few round trips.
// The caller has checked their nodes open in tx (NodesClosed).
func InsertAll(tx *gorm.DB, ps []*PreparedChange, now time.Time) error {
	if len(ps) == 0 {
		return nil
	}
	changes := make([]*Change, len(ps))
	events := make([]*model.Event, len(ps))
	var steps []*Step
	for i, p := range ps {
		p.Change.CreatedAt, p.Change.UpdatedAt = now, now
		for _, st := range p.steps {
			st.CreatedAt, st.UpdatedAt = now, now
		}
		changes[i] = p.Change
		steps = append(steps, p.steps...)
		events[i] = p.createEvent()
	}
	if err := InsertRows(tx, changes); err != nil {
		return err
	}
	if err := InsertRows(tx, steps); err != nil {
		return err
	}
	return ps[0].store.InsertEvents(tx, events)
}

// InsertEvents records events (built by NewEvent) in tx, many a statement.
func (s *Store) InsertEvents(tx *gorm.DB, events []*model.Event) error {
	return s.RecordAll(tx, events, InsertRows[model.Event])
}
