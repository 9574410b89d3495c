package model

import (
	"context"

	"gorm.io/gorm"
)

// NodeView is what a node document shows besides the nodes themselves:
// their children, bookmark ids, assets' template versions and MintModel
// history ids, read from one snapshot.
type NodeView struct {
	Children         map[string][]NodeRef  // node id -> its children
	ChildNodes       map[string][]*Node    // node id -> its children, when the view was asked for them
	Bookmarks        map[string][]string   // node id -> bookmark ids
	Templates        map[string]VersionRef // asset id -> its template version
	MintModelHistory map[string][]string   // asset id -> its MintModel history ids
	Actor            *Actor                // who reads: what meta.authorisations shows
}

// ViewNodes reads the view of nodes; withChildren reads the children
// themselves too, not only their names (for include=children).
func (s *Store) ViewNodes(ctx context.Context, nodes []*Node, withChildren bool) (*NodeView, error) {
	ids := make([]string, len(nodes))
	var assets []string // only assets have templates and MintModels
	for i, n := range nodes {
		ids[i] = n.ID
		if n.Kind == KindAsset {
			assets = append(assets, n.ID)
		}
	}
	v := &NodeView{Actor: ActorOf(ctx)}
	err := s.Snapshot(ctx, func(s *Store) (err error) {
		if withChildren {
			if v.ChildNodes, err = s.ChildrenOf(ctx, ids); err != nil {
				return err
			}
			v.Children = make(map[string][]NodeRef, len(v.ChildNodes))
			for parent, kids := range v.ChildNodes {
				for _, k := range kids {
					v.Children[parent] = append(v.Children[parent], NodeRef{ID: k.ID, Kind: k.Kind})
				}
			}
			var ok bool
			if v.Bookmarks, ok = s.memoBookmarkIDs(ids); !ok {
				if v.Bookmarks, err = s.BookmarkIDs(ctx, ids); err != nil {
					return err
				}
			}
		} else if v.Children, v.Bookmarks, err = s.childAndBookmarkRefs(ctx, ids); err != nil {
			return err
		}
		if v.Templates, err = s.AssetTemplates(ctx, assets); err != nil {
			return err
		}
		v.MintModelHistory, err = s.AssetMintModelHistoryIDs(ctx, assets)
		return err
	})
	return v, err
}

// NodeRef names a node in a relationship: its kind and id.
type NodeRef struct{ ID, Kind string }

// childAndBookmarkRefs names the children and the bookmarks of the given
// nodes in one query: what their relationships show, without reading the
// records themselves.
func (s *Store) childAndBookmarkRefs(ctx context.Context, ids []string) (children map[string][]NodeRef, bookmarks map[string][]string, err error) {
	children, bookmarks = map[string][]NodeRef{}, map[string][]string{}
	if len(ids) == 0 {
		return children, bookmarks, nil
	}
	if kids, ok := s.memoChildren(ctx, ids); ok {
		if marks, ok := s.memoBookmarkIDs(ids); ok {
			for owner, nodes := range kids {
				for _, k := range nodes {
					children[owner] = append(children[owner], NodeRef{ID: k.ID, Kind: k.Kind})
				}
			}
			return children, marks, nil
		}
	}
	var rows []struct{ Owner, ID, Kind string }
	err = s.Read(ctx, func(db *gorm.DB) error {
		kids := s.readablePaths(ctx, db.Model(&Node{}).Select("parent_id AS owner, id, kind").Where("parent_id IN ?", ids), "path")
		marks := db.Model(&Bookmark{}).Select("node_id AS owner, id, '' AS kind").Where("node_id IN ?", ids)
		return db.Raw("SELECT * FROM (?) AS children UNION ALL SELECT * FROM (?) AS bookmarks ORDER BY id", kids, marks).Scan(&rows).Error
	})
	for _, r := range rows {
		if r.Kind == "" {
			bookmarks[r.Owner] = append(bookmarks[r.Owner], r.ID)
		} else {
			children[r.Owner] = append(children[r.Owner], NodeRef{ID: r.ID, Kind: r.Kind})
		}
	}
	return children, bookmarks, err
}

// NodesWithAncestors reads nodes by id together with their projects and
// parents, which their documents name (and link to). Ancestors are read
// whatever the reader's rules: a readable node's path names them anyway.
// Whoever includes them as documents checks CanRead.
func (s *Store) NodesWithAncestors(ctx context.Context, ids []string) (map[string]*Node, error) {
	ctx = WithActor(ctx, SystemActor)
	var nodes map[string]*Node
	err := s.Snapshot(ctx, func(s *Store) (err error) {
		if nodes, err = s.NodesByID(ctx, Dedupe(ids)); err != nil {
			return err
		}
		var more []string
		for _, n := range nodes {
			for _, id := range []*string{n.ProjectID, n.ParentID} {
				if id != nil && nodes[*id] == nil {
					more = append(more, *id)
				}
			}
		}
		extra, err := s.NodesByID(ctx, Dedupe(more))
		for id, n := range extra {
			nodes[id] = n
		}
		return err
	})
	return nodes, err
}

// Dedupe returns ids without repeats, in first-seen order.
func Dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
