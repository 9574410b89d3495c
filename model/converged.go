package model

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/converge"
)

// ConvergedProperties is a node's properties as its actions see them, and
// everything that went into them, in merge order.
type ConvergedProperties struct {
	Node *Node
	Data JSONMap
	// Repository holds the property files read at Source's commit; empty
	// when the node has no template commit (projects, environments, assets
	// without a template).
	Repository []converge.File
	Source     *RepositorySource
	// Properties are the database properties of the node and its
	// ancestors, project first. Template versions own none: what a template
	// contributes is its repository files.
	Properties []*PropertySetWithOwner
}

// RepositorySource is the commit repository properties are read from.
type RepositorySource struct {
	Remote    gitops.Remote // carries opened credentials: never render it
	CommitSHA string
	// Label names the source in errors, e.g. `template "web" version "1.0"`.
	Label string
}

// AssetSource is the repository source of an asset's converged properties:
// its template version's commit, or nil when the asset has no template.
func (s *Store) AssetSource(ctx context.Context, asset *Node) (*Template, *TemplateVersion, *RepositorySource, error) {
	if asset.Kind != KindAsset {
		return nil, nil, nil, nil
	}
	tpl, tv, remote, err := s.AssetTemplate(ctx, asset)
	if err != nil || tpl == nil {
		return nil, nil, nil, err
	}
	return tpl, tv, &RepositorySource{Remote: remote, CommitSHA: *tv.CommitSHA,
		Label: fmt.Sprintf("template %q version %q", tpl.Code, tv.Version)}, nil
}

// ConvergedProperties deep-merges, for node n: its repository property files
// (assets with a template: at the template version's commit), then the
// properties of its project, environment and the node itself. Objects merge,
// arrays and scalars replace.
func (s *Store) ConvergedProperties(ctx context.Context, n *Node) (*ConvergedProperties, error) {
	// The merge shows every ancestor's properties: reading it needs read on
	// the properties of the node and of each node above it.
	segs := strings.Split(strings.TrimPrefix(n.Path, "/"), "/")
	for i := 2; i <= len(segs); i += 2 {
		if err := AuthoriseRead(ctx, "/"+strings.Join(segs[:i], "/")+"/properties", "converged properties of", n.Path); err != nil {
			return nil, err
		}
	}
	_, _, src, err := s.AssetSource(ctx, n)
	if err != nil {
		return nil, err
	}
	return s.ConvergedPropertiesAt(ctx, n, src)
}

// ConvergedPropertiesAt is ConvergedProperties with the repository source
// given (nil: no repository properties), for callers pinned to a commit.
func (s *Store) ConvergedPropertiesAt(ctx context.Context, n *Node, src *RepositorySource) (*ConvergedProperties, error) {
	out := &ConvergedProperties{Node: n, Source: src, Repository: []converge.File{}}
	if src != nil {
		files, err := s.RepositoryProperties(ctx, n, src)
		if err != nil {
			return nil, err
		}
		out.Repository = files
	}
	sets, err := s.lineageProperties(ctx, n)
	if err != nil {
		return nil, err
	}
	out.Properties = sets
	docs := make([]map[string]any, 0, len(out.Repository)+len(sets))
	for _, f := range out.Repository {
		docs = append(docs, f.Content)
	}
	for _, ps := range sets {
		docs = append(docs, map[string]any(ps.Data))
	}
	out.Data = JSONMap(converge.Merge(docs...))
	return out, nil
}

// RepositoryProperties reads and parses the property files at src's commit
// that apply to n, in merge order. A file that does not parse is a 422
// naming the file and line.
func (s *Store) RepositoryProperties(ctx context.Context, n *Node, src *RepositorySource) ([]converge.File, error) {
	files, err := s.Git.ReadDir(ctx, src.Remote, src.CommitSHA, converge.Root)
	if err != nil {
		return nil, GitError(err, "")
	}
	parsed, err := converge.RepositoryFiles(files, n.Path)
	var pe *converge.ParseError
	if errors.As(err, &pe) {
		meta := map[string]any{"file": pe.File, "commit_sha": src.CommitSHA}
		if pe.Line > 0 {
			meta["line"], meta["column"] = pe.Line, pe.Column
		}
		return nil, &steward.Error{Kind: steward.KindInvalid, Code: "invalid_repository_properties", Meta: meta,
			Detail: fmt.Sprintf("repository properties of %s (commit %s) cannot be read: %s", src.Label, short(src.CommitSHA), pe.Error())}
	}
	return parsed, err
}

// lineageProperties loads the properties of n's project, environment (when
// n is or sits below one) and n itself, in that order.
func (s *Store) lineageProperties(ctx context.Context, n *Node) ([]*PropertySetWithOwner, error) {
	paths := Lineage(n.Path)
	var out []*PropertySetWithOwner
	err := s.Read(ctx, func(db *gorm.DB) error {
		var nodes []Node
		if err := db.Where("path IN ?", paths).Find(&nodes).Error; err != nil {
			return err
		}
		byPath := map[string]*Node{}
		setIDs := make([]string, 0, len(nodes))
		for i := range nodes {
			byPath[nodes[i].Path] = &nodes[i]
			setIDs = append(setIDs, nodes[i].PropertiesID)
		}
		var sets []PropertySet
		if err := db.Where("id IN ?", setIDs).Find(&sets).Error; err != nil {
			return err
		}
		byID := map[string]*PropertySet{}
		for i := range sets {
			byID[sets[i].ID] = &sets[i]
		}
		for _, p := range paths {
			node := byPath[p]
			if node == nil || byID[node.PropertiesID] == nil {
				// An ancestor is never deleted while it has children.
				return steward.NotFound("node", p)
			}
			out = append(out, &PropertySetWithOwner{PropertySet: byID[node.PropertiesID], Owner: node})
		}
		return nil
	})
	return out, err
}

// Lineage lists the paths from the project down to path:
// /projects/p, /projects/p/environments/e, /projects/p/environments/e/assets/a.
func Lineage(path string) []string {
	var out []string
	segments := 0
	for i := 1; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			segments++
			if segments%2 == 0 {
				out = append(out, path[:i])
			}
		}
	}
	return out
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
