package run

import (
	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// lineage is a node's ancestors and the node itself, root first, with
// their settings documents: what queue and approval rules read.
type lineage struct {
	paths    []string
	nodes    map[string]*model.Node   // by path
	settings map[string]model.JSONMap // by path
}

// readLineage reads node's lineage and its settings in one statement.
func readLineage(db *gorm.DB, node *model.Node) (*lineage, error) {
	l := &lineage{paths: model.Lineage(node.Path), nodes: map[string]*model.Node{}, settings: map[string]model.JSONMap{}}
	type row struct {
		model.Node
		SettingsData model.JSONMap
	}
	var rows []row
	if err := db.Table("nodes").Select("nodes.*, property_sets.data AS settings_data").
		Joins("LEFT JOIN property_sets ON property_sets.id = nodes.settings_id").
		Where("nodes.path IN ?", l.paths).Scan(&rows).Error; err != nil {
		return nil, err
	}
	for i := range rows {
		n := rows[i].Node
		l.nodes[n.Path], l.settings[n.Path] = &n, rows[i].SettingsData
	}
	return l, nil
}

// startLockClass is the first key of the advisory lock that serialises
// the starts of changes on one node (PostgreSQL), so that two of them
// cannot both see the other as not yet running.
const startLockClass = 0x5354534e // "STSN"

// lockStarts takes, in tx, the lock that serialises starts on node id
// (nothing on SQLite, whose write transactions are serialised already).
func lockStarts(tx *gorm.DB, postgres bool, id string) error {
	if !postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(?))", startLockClass, id).Error
}

// lockLineage is lockStarts then readLineage for node id, in one
// statement: the lineage is the node, its parent and grandparent (at most
// project, environment, asset). The lineage is read on the statement's
// snapshot, taken before the lock; what must be read under it (the queue)
// is read by the next statements.
func lockLineage(tx *gorm.DB, postgres bool, id string) (*model.Node, *lineage, error) {
	type row struct {
		model.Node
		SettingsData model.JSONMap
	}
	var rows []row
	q := tx.Table("nodes").Select("nodes.*, property_sets.data AS settings_data").
		Joins("LEFT JOIN property_sets ON property_sets.id = nodes.settings_id")
	if postgres {
		// Uncorrelated, so run once, before the rows are joined to it.
		q = q.Joins("CROSS JOIN (SELECT pg_advisory_xact_lock(?, hashtext(?))) AS start_lock", startLockClass, id)
	}
	err := q.Where(`nodes.id IN (?, (SELECT parent_id FROM nodes WHERE id = ?),
  (SELECT p.parent_id FROM nodes n JOIN nodes p ON p.id = n.parent_id WHERE n.id = ?))`, id, id, id).
		Scan(&rows).Error
	if err != nil {
		return nil, nil, err
	}
	var node *model.Node
	for i := range rows {
		if rows[i].ID == id {
			node = &rows[i].Node
		}
	}
	if node == nil {
		return nil, nil, steward.NotFound("node", id)
	}
	l := &lineage{paths: model.Lineage(node.Path), nodes: map[string]*model.Node{}, settings: map[string]model.JSONMap{}}
	for i := range rows {
		n := rows[i].Node
		l.nodes[n.Path], l.settings[n.Path] = &n, rows[i].SettingsData
	}
	return l.nodes[node.Path], l, nil
}

// project is the lineage's project (its root).
func (l *lineage) project() *model.Node {
	if len(l.paths) == 0 {
		return nil
	}
	return l.nodes[l.paths[0]]
}

// open refuses a node that is archived or sits below an archived one, as
// nodeOpen does in the database.
func (l *lineage) open(n *model.Node) error {
	for _, p := range l.paths {
		if c := l.nodes[p]; c != nil && c.Archived {
			return archivedError(n, c)
		}
	}
	return nil
}

// approvalGroup is the requires_approval_from setting nearest the node: its
// own settings, then its environment's, then its project's. A null value at
// a level switches approvals off below it.
func (l *lineage) approvalGroup() *string {
	for i := len(l.paths) - 1; i >= 0; i-- {
		data := l.settings[l.paths[i]]
		if _, ok := data["requires_approval_from"]; ok {
			return model.ParseSettings(data).RequiresApprovalFrom
		}
	}
	return nil
}

// parallel reads allow_parallel: each key from the nearest of the node, its
// environment and its project that sets it, else its default.
func (l *lineage) parallel() model.Settings {
	out := model.ParseSettings(nil)
	var changesSet, sameSet bool
	for i := len(l.paths) - 1; i >= 0; i-- {
		ap, _ := l.settings[l.paths[i]]["allow_parallel"].(map[string]any)
		if v, ok := ap["changes"].(bool); ok && !changesSet {
			out.AllowParallelChanges, changesSet = v, true
		}
		if v, ok := ap["runs_of_same_change"].(bool); ok && !sameSet {
			out.AllowParallelRunsOfSameChange, sameSet = v, true
		}
	}
	return out
}

// parallelSettings reads allow_parallel for node (see lineage.parallel).
func parallelSettings(db *gorm.DB, node *model.Node) (model.Settings, error) {
	l, err := readLineage(db, node)
	if err != nil {
		return model.Settings{}, err
	}
	return l.parallel(), nil
}
