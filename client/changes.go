package client

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"

	gjsonapi "github.com/google/jsonapi"
)

// CreateChange is what a new change runs: the action, on the node at
// NodePath, from a Git remote of its project at a rev.
type CreateChange struct {
	NodePath      string // e.g. /projects/opc/environments/dev
	Action        string
	Name          *string
	GitRemoteName string // projects and environments only
	GitRev        string // a branch, tag or commit SHA; projects and environments only
	// TemplateVersion picks another ready version of an asset's template
	// (assets only).
	TemplateVersion   string
	Metadata          map[string]any // kept as sent; json.Number values stay exact
	PropertyOverrides map[string]any
	// IdempotencyKey, when set, makes resending the same request within 24
	// hours return the first response instead of creating another change.
	IdempotencyKey string
}

// changeCreateBody is the create document as google/jsonapi marshals it: an
// empty id is left out, as the API requires, and so are unset attributes;
// free-form maps are written by encoding/json as they are.
type changeCreateBody struct {
	ID                string         `jsonapi:"primary,change"`
	Action            string         `jsonapi:"attr,action"`
	Name              *string        `jsonapi:"attr,name,omitempty"`
	ParentPath        string         `jsonapi:"attr,parent_path"`
	GitRemoteName     string         `jsonapi:"attr,git_remote_name,omitempty"`
	GitRev            string         `jsonapi:"attr,git_rev,omitempty"`
	TemplateVersion   string         `jsonapi:"attr,template_version,omitempty"`
	Metadata          map[string]any `jsonapi:"attr,metadata,omitempty"`
	PropertyOverrides map[string]any `jsonapi:"attr,property_overrides,omitempty"`
}

// CreateChange creates a change (POST /api/changes with parent_path). A
// refused one is an *Error: 422 unknown_node (source.pointer
// /data/attributes/parent_path), unknown_git_remote, unknown_action (meta
// closest_actions), and so on.
func (c *Client) CreateChange(ctx context.Context, in CreateChange) (*Change, error) {
	body := &changeCreateBody{Action: in.Action, Name: in.Name, ParentPath: in.NodePath,
		GitRemoteName: in.GitRemoteName, GitRev: in.GitRev, TemplateVersion: in.TemplateVersion,
		Metadata: in.Metadata, PropertyOverrides: in.PropertyOverrides}
	var buf bytes.Buffer
	if err := gjsonapi.MarshalPayload(&buf, body); err != nil {
		return nil, err
	}
	req := request{method: http.MethodPost, path: "/api/changes", body: buf.Bytes()}
	if in.IdempotencyKey != "" {
		req.header = http.Header{"Idempotency-Key": {in.IdempotencyKey}}
	}
	return c.changeCall(ctx, req)
}

func (c *Client) changeCall(ctx context.Context, req request) (*Change, error) {
	b, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	var ch Change
	if err := decodeOne(b, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// GetChange reads a change; withSteps includes its steps, so Steps and
// RootStep (and their Children) are whole.
func (c *Client) GetChange(ctx context.Context, id string, withSteps bool) (*Change, error) {
	var q url.Values
	if withSteps {
		q = url.Values{"include": {"steps"}}
	}
	return c.changeCall(ctx, request{method: http.MethodGet, path: "/api/changes/" + escape(id), query: q})
}

// ListChanges lists changes: every change when nodePath is "", else those
// that run on that node itself.
func (c *Client) ListChanges(ctx context.Context, nodePath string, opts ListOptions) (*List[Change], error) {
	path := "/api/changes"
	if nodePath != "" {
		n, err := ParseNodePath(nodePath)
		if err != nil {
			return nil, err
		}
		path = n.apiPath() + "/changes"
	}
	return getList[Change](ctx, c, path, opts.query())
}

// CancelChange cancels a change that has not finished (422 change_finished
// for one that has).
func (c *Client) CancelChange(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{method: http.MethodDelete, path: "/api/changes/" + escape(id)})
	return err
}

// RetryChange creates a new change from one that ended error, cancelled or
// rejected (422 not_retryable otherwise) and returns the new change.
func (c *Client) RetryChange(ctx context.Context, id, idempotencyKey string) (*Change, error) {
	req := request{method: http.MethodPost, path: "/api/changes/" + escape(id) + "/retry"}
	if idempotencyKey != "" {
		req.header = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	return c.changeCall(ctx, req)
}

// ListSteps lists steps; filter by change with Filters["change_id_eq"].
func (c *Client) ListSteps(ctx context.Context, opts ListOptions) (*List[Step], error) {
	return getList[Step](ctx, c, "/api/steps", opts.query())
}

// GetStep reads one step.
func (c *Client) GetStep(ctx context.Context, id string) (*Step, error) {
	var s Step
	if err := c.getOne(ctx, "/api/steps/"+escape(id), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Step verbs: what a waiting wait step can be told.
const (
	VerbContinue = "continue" // a wait step without requires_approval_from
	VerbApprove  = "approve"  // one that needs an approval from a group
	VerbReject   = "reject"
)

// stepActionBody is the optional body of a step verb.
type stepActionBody struct {
	ID      string `jsonapi:"primary,step"`
	Message string `jsonapi:"attr,message"`
}

// ActOnStep continues, approves or rejects a waiting step, with an optional
// message, and returns the step. Refusals are *Error: 422 step_not_waiting,
// no_approval_required (use continue), approval_required (approve or
// reject); 403 for a user outside the approving group, or the change's
// creator approving their own change.
func (c *Client) ActOnStep(ctx context.Context, stepID, verb, message string) (*Step, error) {
	req := request{method: http.MethodPost, path: "/api/steps/" + escape(stepID) + "/" + url.PathEscape(verb)}
	if message != "" {
		var buf bytes.Buffer
		if err := gjsonapi.MarshalPayload(&buf, &stepActionBody{Message: message}); err != nil {
			return nil, err
		}
		req.body = buf.Bytes()
	}
	b, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	var s Step
	if err := decodeOne(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// WaitingSteps are the change's steps that wait for verb: continue picks
// wait steps without an approving group, approve and reject those with one.
func (c *Client) WaitingSteps(ctx context.Context, changeID, verb string) ([]*Step, error) {
	l, err := c.ListSteps(ctx, ListOptions{Limit: 1000,
		Filters: map[string]string{"change_id_eq": changeID, "status_code_eq": StatusWaiting}})
	if err != nil {
		return nil, err
	}
	var out []*Step
	for _, s := range l.Items {
		if (s.RequiresApprovalFrom != nil) == (verb != VerbContinue) {
			out = append(out, s)
		}
	}
	return out, nil
}

// splitNext turns a links.next value into the request path and query.
func splitNext(next string) (string, url.Values, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", nil, err
	}
	path := u.EscapedPath()
	if i := strings.Index(path, "/api/"); i > 0 {
		path = path[i:] // an absolute link
	}
	return path, u.Query(), nil
}
