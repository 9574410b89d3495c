package handler

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/authz"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// Node URL prefixes. Every sub-resource a node owns is registered under each
// of them, and resolveNode turns whichever matched into the node.
const (
	projectPrefix          = "/api/projects/{project}"
	environmentPrefix      = projectPrefix + "/environments/{environment}"
	projectAssetPrefix     = projectPrefix + "/assets/{asset}"
	environmentAssetPrefix = environmentPrefix + "/assets/{asset}"
)

var nodePrefixes = []string{projectPrefix, environmentPrefix, projectAssetPrefix, environmentAssetPrefix}

// resolveNode is the one node resolver: mux vars -> canonical path -> node.
func (a *API) resolveNode(r *http.Request) (*model.Node, error) {
	return a.resolveNodeWith(r, a.Store.NodeByPath)
}

// resolveNodeWith resolves the node with lookup: NodeByPath, or
// NodeForDocument for the node's own document.
func (a *API) resolveNodeWith(r *http.Request, lookup func(context.Context, string) (*model.Node, error)) (*model.Node, error) {
	v := mux.Vars(r)
	path := model.NodePath(v["project"], v["environment"], v["asset"])
	// No node has a malformed code, and such bytes (NUL, broken UTF-8) are
	// an error rather than a miss on PostgreSQL: answer 404 without asking.
	for _, code := range []string{v["project"], v["environment"], v["asset"]} {
		if code != "" && model.ValidateCode(code) != nil {
			return nil, steward.NotFound("node", strings.ToValidUTF8(path, "?"))
		}
	}
	return lookup(r.Context(), path)
}

// nodeInScope parses the query against spec and resolves the node in the
// URL: how every handler below a node starts.
func (a *API) nodeInScope(r *http.Request, spec *jsonapi.Spec) (*jsonapi.Query, *model.Node, error) {
	q, err := jsonapi.ParseQuery(r, spec)
	if err != nil {
		return nil, nil, err
	}
	n, err := a.resolveNode(r)
	return q, n, err
}

// parentInScope is nodeInScope for collections that also sit at the root
// (/api/projects, /api/changes), where there is no node and it returns nil.
func (a *API) parentInScope(r *http.Request, spec *jsonapi.Spec) (*jsonapi.Query, *model.Node, error) {
	if mux.Vars(r)["project"] == "" {
		q, err := jsonapi.ParseQuery(r, spec)
		return q, nil, err
	}
	return a.nodeInScope(r, spec)
}

func nodeSpec(kind string) *jsonapi.Spec {
	return &jsonapi.Spec{Filters: model.NodeFilters(kind), Includes: nodeIncludes[kind], List: true, Keyset: "id"}
}

var (
	nodeIncludes = map[string][]string{
		model.KindProject:     {"children", "bookmarks"},
		model.KindEnvironment: {"parents", "project", "children", "bookmarks"},
		model.KindAsset:       {"parents", "project", "bookmarks"},
	}
	nodeCSVColumns = map[string][]string{
		model.KindProject:     {"code", "name", "description", "archived", "project_type"},
		model.KindEnvironment: {"code", "name", "description", "archived"},
		model.KindAsset:       {"code", "name", "description", "archived"},
	}
	nodeCreateAttributes = map[string][]string{
		model.KindProject:     {"code", "name", "description", "project_type"},
		model.KindEnvironment: {"code", "name", "description"},
		model.KindAsset:       {"code", "name", "description", "template_name", "template_version"},
	}
	nodeUpdateAttributes = map[string][]string{
		model.KindProject:     {"name", "description", "archived", "project_type"},
		model.KindEnvironment: {"name", "description", "archived"},
		model.KindAsset:       {"name", "description", "archived", "template_name", "template_version"},
	}
)

func itemSpec(kind string) *jsonapi.Spec {
	return &jsonapi.Spec{Includes: nodeIncludes[kind]}
}

func (a *API) routeProjects(r *mux.Router) {
	a.routeNodeKind(r, "/api", projectPrefix, model.KindProject)
}

func (a *API) routeEnvironments(r *mux.Router) {
	a.routeNodeKind(r, projectPrefix, environmentPrefix, model.KindEnvironment)
}

func (a *API) routeAssets(r *mux.Router) {
	a.routeNodeKind(r, projectPrefix, projectAssetPrefix, model.KindAsset)
	a.routeNodeKind(r, environmentPrefix, environmentAssetPrefix, model.KindAsset)
}

func (a *API) routeNodeKind(r *mux.Router, parentPrefix, itemPrefix, kind string) {
	collection := parentPrefix + "/" + model.Segment(kind)
	r.HandleFunc(collection, a.handle(a.listNodes(kind))).Methods(http.MethodGet)
	r.HandleFunc(collection, a.handle(a.createNode(kind))).Methods(http.MethodPost)
	r.HandleFunc(itemPrefix, a.handle(a.showNode(kind))).Methods(http.MethodGet)
	r.HandleFunc(itemPrefix, a.handle(a.updateNode(kind))).Methods(http.MethodPatch)
	r.HandleFunc(itemPrefix, a.handle(a.archiveNode(kind))).Methods(http.MethodDelete)
}

func (a *API) listNodes(kind string) handlerFunc {
	spec := nodeSpec(kind)
	return func(w http.ResponseWriter, r *http.Request) error {
		q, parent, err := a.parentInScope(r, spec)
		if err != nil {
			return err
		}
		ctx := r.Context()
		src := a.Store.ChildList(parent, kind)
		// Streamed rows carry only attributes, so no relations are loaded.
		empty := &model.NodeView{}
		csvRow := func(n *model.Node) *jsonapi.Resource { return nodeResource(n, empty) }
		l, written, err := listPage(a, w, r, q, src, nodeCSVColumns[kind], csvRow, func(v *API, nodes []*model.Node) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
			return v.renderNodes(ctx, nodes, q.Include, parent)
		})
		if written || err != nil {
			return err
		}
		doc := l.document(r, q, false)
		if kind == model.KindProject {
			if doc.Meta == nil {
				doc.Meta = map[string]any{}
			}
			doc.Meta["authorisations"] = map[string]bool{"update": actorOf(r).Can(authz.Update, "/projects")}
		}
		jsonapi.Render(w, http.StatusOK, doc, q)
		return nil
	}
}

// renderNodes renders nodes with their relationships, and the included
// resources for the include paths (nil when none were asked for). The
// parents an include names are known from the nodes, so they are read first
// and one view covers both; only included children need a view of their own.
// known are nodes the caller has read already (a list's parent), which
// need not be read again.
func (a *API) renderNodes(ctx context.Context, nodes []*model.Node, include []string, known ...*model.Node) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
	parents, err := a.includedParents(ctx, nodes, include, known)
	if err != nil {
		return nil, nil, err
	}
	withChildren := slices.Contains(include, "children")
	rel, err := a.Store.ViewNodes(ctx, append(slices.Clip(nodes), parents...), withChildren)
	if err != nil {
		return nil, nil, err
	}
	data := make([]*jsonapi.Resource, len(nodes))
	for i, n := range nodes {
		data[i] = nodeResource(n, rel)
	}
	if len(include) == 0 {
		return data, nil, nil
	}
	included := make([]*jsonapi.Resource, 0, len(parents))
	if withChildren {
		var children []*model.Node
		for _, n := range nodes {
			children = append(children, rel.ChildNodes[n.ID]...)
		}
		if len(children) > 0 {
			childRel, err := a.Store.ViewNodes(ctx, children, false)
			if err != nil {
				return nil, nil, err
			}
			for _, c := range children {
				included = append(included, nodeResource(c, childRel))
			}
		}
	}
	for _, p := range parents {
		included = append(included, nodeResource(p, rel))
	}
	if slices.Contains(include, "bookmarks") {
		// The view has the bookmark ids: read the bookmarks only of nodes that have some.
		var nodeIDs []string
		paths := map[string]string{}
		for _, n := range nodes {
			if len(rel.Bookmarks[n.ID]) > 0 {
				nodeIDs = append(nodeIDs, n.ID)
				paths[n.ID] = nodeLink(n)
			}
		}
		marks, err := a.Store.BookmarksOf(ctx, nodeIDs)
		if err != nil {
			return nil, nil, err
		}
		for i := range marks {
			included = append(included, bookmarkResource(&marks[i], paths[marks[i].NodeID]))
		}
	}
	return data, included, nil
}

// includedParents reads the parents (or only the projects) that include
// names, once each, in the order the nodes name them; NodesByID leaves out
// those the reader may not read.
func (a *API) includedParents(ctx context.Context, nodes []*model.Node, include []string, known []*model.Node) ([]*model.Node, error) {
	all, projects := slices.Contains(include, "parents"), slices.Contains(include, "project")
	if !all && !projects {
		return nil, nil
	}
	seen := map[string]bool{}
	var ids, unknown []string
	byID := map[string]*model.Node{}
	for _, n := range known {
		if n != nil {
			byID[n.ID] = n
		}
	}
	for _, n := range nodes {
		for _, p := range parentIDs(n) {
			if (all || p.Type == model.KindProject) && !seen[p.ID] {
				seen[p.ID] = true
				ids = append(ids, p.ID)
				if byID[p.ID] == nil {
					unknown = append(unknown, p.ID)
				}
			}
		}
	}
	read, err := a.Store.NodesByID(ctx, unknown)
	if err != nil {
		return nil, err
	}
	maps.Copy(byID, read)
	out := make([]*model.Node, 0, len(ids))
	for _, id := range ids {
		if n, ok := byID[id]; ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// defaultShowIncludes mirrors what the reference shows on a node's page when
// the client does not choose with include. An asset shows its project, not
// all its parents: the reference's asset document admits no environment in
// included, so an environment's asset would otherwise fail its schema.
var defaultShowIncludes = map[string][]string{
	model.KindProject:     {"children", "bookmarks"},
	model.KindEnvironment: {"parents", "children", "bookmarks"},
	model.KindAsset:       {"project", "bookmarks"},
}

func (a *API) showNode(kind string) handlerFunc {
	spec := itemSpec(kind)
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := jsonapi.ParseQuery(r, spec)
		if err != nil {
			return err
		}
		include := q.Include
		if !q.IncludeRequested() {
			include = defaultShowIncludes[kind]
		}
		// A project's or an environment's document is usually one
		// statement (see model.Store.NodeForDocument), which needs no
		// transaction; an asset's reads its template and MintModels too.
		read := a.document
		if kind == model.KindAsset {
			read = a.snapshot
		}
		var doc jsonapi.Document
		if err := read(r.Context(), func(v *API) error {
			n, err := v.resolveNodeWith(r, v.Store.NodeForDocument)
			if err != nil {
				return err
			}
			doc, err = v.nodeDocument(r.Context(), n, include)
			return err
		}); err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, doc, q)
		return nil
	}
}

// nodeDocument is n's document with the resources include names.
func (a *API) nodeDocument(ctx context.Context, n *model.Node, include []string) (jsonapi.Document, error) {
	data, included, err := a.renderNodes(ctx, []*model.Node{n}, include)
	if err != nil {
		return jsonapi.Document{}, err
	}
	if len(include) > 0 && included == nil {
		included = []*jsonapi.Resource{}
	}
	return jsonapi.Document{Data: data[0], Included: included}, nil
}

func (a *API) renderNode(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, status int, n *model.Node, include []string) error {
	var doc jsonapi.Document
	err := a.snapshot(r.Context(), func(v *API) (err error) {
		doc, err = v.nodeDocument(r.Context(), n, include)
		return err
	})
	if err != nil {
		return err
	}
	jsonapi.Render(w, status, doc, q)
	return nil
}

func (a *API) createNode(kind string) handlerFunc {
	spec := itemSpec(kind)
	return func(w http.ResponseWriter, r *http.Request) error {
		q, parent, err := a.parentInScope(r, spec)
		if err != nil {
			return err
		}
		body, err := jsonapi.DecodeBody(r, kind, nodeCreateAttributes[kind])
		if err != nil {
			return err
		}
		var in model.NodeInput
		if err := steward.First(
			body.NoClientID(),
			body.Require("code", "name"),
			body.String("code", &in.Code), body.String("name", &in.Name),
			body.NullableString("description", &in.Description),
			body.NullableString("project_type", &in.ProjectType),
			body.NullableString("template_name", &in.TemplateName),
			body.NullableString("template_version", &in.TemplateVersion),
		); err != nil {
			return err
		}
		n, err := a.Store.CreateNode(r.Context(), actorOf(r), parent, kind, in)
		if err != nil {
			return err
		}
		w.Header().Set("Location", nodeLink(n))
		return a.renderNode(w, r, q, http.StatusCreated, n, q.Include)
	}
}

func (a *API) updateNode(kind string) handlerFunc {
	spec := itemSpec(kind)
	return func(w http.ResponseWriter, r *http.Request) error {
		q, n, err := a.nodeInScope(r, spec)
		if err != nil {
			return err
		}
		body, err := jsonapi.DecodeBody(r, kind, nodeUpdateAttributes[kind])
		if err != nil {
			return err
		}
		in := model.NodeInput{Code: n.Code}
		set := map[string]bool{}
		for _, k := range nodeUpdateAttributes[kind] {
			set[k] = body.Has(k)
		}
		if err := steward.First(
			body.CheckID(n.ID),
			body.String("name", &in.Name), body.NullableString("description", &in.Description),
			body.Bool("archived", &in.Archived), body.NullableString("project_type", &in.ProjectType),
			body.NullableString("template_name", &in.TemplateName),
			body.NullableString("template_version", &in.TemplateVersion),
		); err != nil {
			return err
		}
		n, err = a.Store.UpdateNode(r.Context(), actorOf(r), n, in, set)
		if err != nil {
			return err
		}
		return a.renderNode(w, r, q, http.StatusOK, n, q.Include)
	}
}

func (a *API) archiveNode(kind string) handlerFunc {
	spec := &jsonapi.Spec{}
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := jsonapi.ParseQuery(r, spec); err != nil {
			return err
		}
		n, err := a.resolveNode(r)
		if err != nil {
			return err
		}
		if _, err := a.Store.ArchiveNode(r.Context(), actorOf(r), n); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
