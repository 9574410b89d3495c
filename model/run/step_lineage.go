package run

import (
	"gorm.io/gorm"

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
