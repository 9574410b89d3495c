package client

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// ListOptions narrow and order a list. Filters are the API's
// filter[<attribute>_<predicate>] conditions by their inner name, such as
// "status_code_eq": "running".
type ListOptions struct {
	Filters map[string]string
	Sort    string // e.g. "-created_at" for newest first
	Limit   int    // 1 to 1000; 0 is the server's default (100)
	Include []string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	for k, v := range o.Filters {
		q.Set("filter["+k+"]", v)
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	if o.Limit > 0 {
		q.Set("limit", fmt.Sprint(o.Limit))
	}
	if len(o.Include) > 0 {
		q.Set("include", strings.Join(o.Include, ","))
	}
	return q
}

// ListProjects lists the projects.
func (c *Client) ListProjects(ctx context.Context, opts ListOptions) (*List[Project], error) {
	return getList[Project](ctx, c, "/api/projects", opts.query())
}

// GetProject reads one project by its code.
func (c *Client) GetProject(ctx context.Context, code string) (*Project, error) {
	var p Project
	return &p, c.getOne(ctx, "/api/projects/"+escape(code), nil, &p)
}

// ListEnvironments lists the environments of a project.
func (c *Client) ListEnvironments(ctx context.Context, projectCode string, opts ListOptions) (*List[Environment], error) {
	return getList[Environment](ctx, c, "/api/projects/"+escape(projectCode)+"/environments", opts.query())
}

// GetGitRemote reads one of a project's Git remotes by its id.
func (c *Client) GetGitRemote(ctx context.Context, projectCode, id string) (*GitRemote, error) {
	var g GitRemote
	return &g, c.getOne(ctx, "/api/projects/"+escape(projectCode)+"/git_remotes/"+escape(id), nil, &g)
}

// NodePath is a parsed node path such as /projects/opc/environments/dev.
type NodePath struct {
	Project     string
	Environment string // "" for a project or a project's asset
	Asset       string // "" for a project or an environment
}

// ParseNodePath checks a node path: /projects/P, /projects/P/environments/E,
// /projects/P/assets/A or /projects/P/environments/E/assets/A.
func ParseNodePath(path string) (NodePath, error) {
	bad := fmt.Errorf("node path %q must be /projects/P, /projects/P/environments/E, /projects/P/assets/A or /projects/P/environments/E/assets/A", path)
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(parts) < 3 || parts[0] != "" || parts[1] != "projects" {
		return NodePath{}, bad
	}
	for _, p := range parts[1:] {
		if p == "" || p == "." || p == ".." {
			return NodePath{}, bad
		}
	}
	var n NodePath
	n.Project = parts[2]
	rest := parts[3:]
	if len(rest) >= 2 && rest[0] == "environments" {
		n.Environment, rest = rest[1], rest[2:]
	}
	if len(rest) >= 2 && rest[0] == "assets" {
		n.Asset, rest = rest[1], rest[2:]
	}
	if len(rest) != 0 || n.Project == "" {
		return NodePath{}, bad
	}
	return n, nil
}

// String is the canonical path.
func (n NodePath) String() string {
	s := "/projects/" + n.Project
	if n.Environment != "" {
		s += "/environments/" + n.Environment
	}
	if n.Asset != "" {
		s += "/assets/" + n.Asset
	}
	return s
}

// apiPath is the node's URL path below the server, segments escaped.
func (n NodePath) apiPath() string {
	s := "/api/projects/" + escape(n.Project)
	if n.Environment != "" {
		s += "/environments/" + escape(n.Environment)
	}
	if n.Asset != "" {
		s += "/assets/" + escape(n.Asset)
	}
	return s
}
