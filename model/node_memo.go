package model

import (
	"context"
	"sort"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/authz"
)

// nodeMemo is what NodeForDocument read, in its one statement, besides the
// node and its ancestors (which are in Store.known, with their children):
// the children of some nodes and the bookmark ids of some. A key that
// is present means the list is complete (possibly empty). Children are kept
// whatever the reader's rules and filtered as they are served, as NodesByID
// filters what known holds: the in-memory decision and the SQL filter are
// proven to agree (authorisation_check_test.go).
type nodeMemo struct {
	children  map[string][]*Node  // parent id -> its children, by id
	bookmarks map[string][]string // node id -> its bookmark ids, by id
}

// nodeColumns are Node's columns in the order of familyQuery's parts.
const nodeColumns = "id, kind, code, name, description, archived, project_type, parent_id, project_id, path, " +
	"properties_id, settings_id, template_name, template_version, created_at, updated_at"

// familyQuery reads, in one statement, the node at a path with its ancestors
// (part 0: the line), the children of the line and of the node's children
// (1: what their relationships name, and an include of children, and what
// those name), and the bookmark ids of the same nodes (2, which fills the
// columns of Node a bookmark does not have with blanks). It is short and
// has no ORDER BY: SQLite compiles every statement afresh, and a compound
// statement's sort was a third of its cost; the rows are sorted here.
const familyQuery = `WITH near AS (SELECT id FROM nodes WHERE path IN @line OR parent_id IN (SELECT id FROM nodes WHERE path = @path))
SELECT 0 AS memo_part, ` + nodeColumns + ` FROM nodes WHERE path IN @line
UNION ALL SELECT 1, ` + nodeColumns + ` FROM nodes WHERE parent_id IN (SELECT id FROM near)
UNION ALL SELECT 2, id, '', '', '', NULL, FALSE, NULL, node_id, NULL, '', NULL, NULL, NULL, NULL, created_at, updated_at
  FROM bookmarks WHERE node_id IN (SELECT id FROM near)`

type familyRow struct {
	MemoPart int
	Node     `gorm:"embedded"`
}

// NodeForDocument is NodeByPath for the node's own document. In a snapshot
// (or a Document) the statement that reads the node also reads what its
// document shows besides it: the children of the node and of its ancestors,
// the children of its children, and the bookmark ids of all but the last,
// so that ViewNodes of the node with its parents, and of its children, read
// nothing more: a project's or an environment's document is one statement.
// Outside a snapshot it is NodeByPath. 404 when missing.
func (s *Store) NodeForDocument(ctx context.Context, path string) (*Node, error) {
	if s.memo == nil {
		return s.NodeByPath(ctx, path)
	}
	if err := AuthoriseRead(ctx, path, "node", path); err != nil {
		return nil, err
	}
	var rows []familyRow
	line := append(ancestorPaths(path), path)
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Raw(familyQuery, map[string]any{"line": line, "path": path}).Scan(&rows).Error
	}); err != nil {
		return nil, err
	}
	// By id, as each list is ordered; then the line, its children (the
	// node's children among them), and theirs, so that every list is known
	// complete before it is filled.
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	m := s.memo
	if m.children == nil {
		m.children, m.bookmarks = map[string][]*Node{}, map[string][]string{}
	}
	var found *Node
	inLine := map[string]bool{}
	for i := range rows {
		if n := &rows[i].Node; rows[i].MemoPart == 0 {
			s.known[n.ID], inLine[n.ID] = n, true
			m.children[n.ID], m.bookmarks[n.ID] = []*Node{}, []string{}
			if n.Path == path {
				found = n
			}
		}
	}
	if found == nil {
		return nil, steward.NotFound("node", path)
	}
	for _, lineChild := range []bool{true, false} {
		for i := range rows {
			n := &rows[i].Node
			if rows[i].MemoPart != 1 || inLine[*n.ParentID] != lineChild {
				continue
			}
			s.known[n.ID] = n
			m.children[*n.ParentID] = append(m.children[*n.ParentID], n)
			if *n.ParentID == found.ID {
				m.children[n.ID], m.bookmarks[n.ID] = []*Node{}, []string{}
			}
		}
	}
	for i := range rows {
		if n := &rows[i].Node; rows[i].MemoPart == 2 {
			m.bookmarks[*n.ParentID] = append(m.bookmarks[*n.ParentID], n.ID)
		}
	}
	return found, nil
}

// memoChildren is the readable children of every id, grouped by parent as
// ChildrenOf groups them, when the memo holds them all.
func (s *Store) memoChildren(ctx context.Context, ids []string) (map[string][]*Node, bool) {
	if s.memo == nil || s.memo.children == nil {
		return nil, false
	}
	reader := ActorOf(ctx)
	out := map[string][]*Node{}
	for _, id := range ids {
		kids, ok := s.memo.children[id]
		if !ok {
			return nil, false
		}
		for _, k := range kids {
			if reader.Can(authz.Read, k.Path) {
				out[id] = append(out[id], k)
			}
		}
	}
	return out, true
}

// memoBookmarkIDs is the bookmark ids of every id, as BookmarkIDs groups
// them, when the memo holds them all.
func (s *Store) memoBookmarkIDs(ids []string) (map[string][]string, bool) {
	if s.memo == nil || s.memo.bookmarks == nil {
		return nil, false
	}
	out := map[string][]string{}
	for _, id := range ids {
		marks, ok := s.memo.bookmarks[id]
		if !ok {
			return nil, false
		}
		if len(marks) > 0 {
			out[id] = marks
		}
	}
	return out, true
}
