package model

import (
	"context"
	"net/url"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Bookmark is a link kept on a node (a dashboard, a runbook, a ticket).
type Bookmark struct {
	ID          string `gorm:"primaryKey"`
	NodeID      string
	URL         string `gorm:"column:url"`
	Description string
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// BookmarkInput is what a client may set on a bookmark.
type BookmarkInput struct {
	URL         *string
	Description *string
}

func validateBookmark(in BookmarkInput) error {
	if in.URL != nil {
		u, err := url.Parse(*in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(*in.URL) > 2000 {
			return steward.Invalid("url", "invalid_url", "url must be an absolute http(s) URL of at most 2000 characters")
		}
	}
	if in.Description != nil && len(*in.Description) > 1000 {
		return steward.Invalid("description", "too_long", "description must be at most 1000 characters")
	}
	return nil
}

// bookmarksQuery scopes bookmarks to a node.
func bookmarksQuery(db *gorm.DB, node *Node) *gorm.DB {
	return db.Model(&Bookmark{}).Where("node_id = ?", node.ID)
}

// BookmarkFilters are the attributes a bookmark list may filter and sort by (attribute -> column).
var BookmarkFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "url": {Column: "url"}, "description": {Column: "description"},
	"created_by": {Column: "created_by"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// BookmarkList is bookmarksQuery as a list source.
func (s *Store) BookmarkList(node *Node) Source[Bookmark] {
	return NewSource[Bookmark](s, "id", func(db *gorm.DB) *gorm.DB { return bookmarksQuery(db, node) })
}

// BookmarkIDs returns the bookmark ids of each node, keyed by node id.
func (s *Store) BookmarkIDs(ctx context.Context, nodeIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(nodeIDs) == 0 {
		return out, nil
	}
	var rows []Bookmark
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("id", "node_id").Where("node_id IN ?", nodeIDs).Order("id").Find(&rows).Error
	})
	for _, b := range rows {
		out[b.NodeID] = append(out[b.NodeID], b.ID)
	}
	return out, err
}

// BookmarksOf loads the bookmarks of the given nodes.
func (s *Store) BookmarksOf(ctx context.Context, nodeIDs []string) ([]Bookmark, error) {
	var rows []Bookmark
	if len(nodeIDs) == 0 {
		return rows, nil
	}
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("node_id IN ?", nodeIDs).Order("id").Find(&rows).Error })
	return rows, err
}

// GetBookmark loads bookmark id of node.
func (s *Store) GetBookmark(ctx context.Context, node *Node, id string) (*Bookmark, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("bookmark", id)
	}
	var b Bookmark
	err := s.Read(ctx, func(db *gorm.DB) error { return bookmarksQuery(db, node).Where("id = ?", id).Take(&b).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("bookmark", id)
	}
	return &b, err
}

// CreateBookmark adds a bookmark to node; url is required.
func (s *Store) CreateBookmark(ctx context.Context, actor *Actor, node *Node, in BookmarkInput) (*Bookmark, error) {
	if in.URL == nil {
		return nil, steward.Invalid("url", "required", "url is required")
	}
	if err := validateBookmark(in); err != nil {
		return nil, err
	}
	now := s.Now()
	b := &Bookmark{ID: NewID(), NodeID: node.ID, URL: *in.URL, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	if in.Description != nil {
		b.Description = *in.Description
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(b).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:bookmarks:create", node.EventSource(), JSONMap{"bookmark_id": b.ID, "url": b.URL})
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// UpdateBookmark changes the url and/or description of a bookmark.
func (s *Store) UpdateBookmark(ctx context.Context, actor *Actor, node *Node, b *Bookmark, in BookmarkInput) (*Bookmark, error) {
	if err := validateBookmark(in); err != nil {
		return nil, err
	}
	if in.URL != nil {
		b.URL = *in.URL
	}
	if in.Description != nil {
		b.Description = *in.Description
	}
	b.UpdatedAt = s.Now()
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&Bookmark{}).Where("id = ?", b.ID).
			Updates(map[string]any{"url": b.URL, "description": b.Description, "updated_at": b.UpdatedAt}).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:bookmarks:update", node.EventSource(), JSONMap{"bookmark_id": b.ID})
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// DeleteBookmark removes a bookmark.
func (s *Store) DeleteBookmark(ctx context.Context, actor *Actor, node *Node, b *Bookmark) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", b.ID).Delete(&Bookmark{}).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:bookmarks:delete", node.EventSource(), JSONMap{"bookmark_id": b.ID})
	})
}
