package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/authz"
	"github.com/stewardhq/steward/pkg/jsonapi"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Tolerance is how far a signed timestamp may be from now; a signature is
// remembered (refused a second time) for as long as it could pass.
const Tolerance = 5 * time.Minute

// GitHubNonceTTL is how long a GitHub delivery id is remembered: GitHub's
// signature carries no timestamp, so the id is the only replay guard.
const GitHubNonceTTL = 30 * 24 * time.Hour

// Signed is a trigger as it arrived: the raw body and the headers that
// authenticate it.
type Signed struct {
	Body []byte
	// X-Steward-Timestamp (Unix seconds) and X-Steward-Signature
	// (sha256=<hex HMAC of "timestamp.body">).
	Timestamp, Signature string
	// X-Hub-Signature-256 (sha256=<hex HMAC of the body>) and X-GitHub-Delivery.
	GitHubSignature, GitHubDelivery string
	RemoteAddr                      string
}

// HookRequest is one trigger of a hook and what became of it.
type HookRequest struct {
	ID            string `gorm:"primaryKey"`
	HookID        string
	Outcome       string // accepted, refused
	Status        int
	Reason        *string
	Scheme        *string // steward, github
	GitRev        *string
	ChangeID      *string
	WorkflowRunID *string
	RemoteAddr    *string
	CreatedAt     time.Time
}

// DefaultKeepRequests is how many requests a hook's log keeps (Store's
// KeepRequests when zero): each write of the log drops what lies beyond
// the newest ones. A count, not an age: the trigger needs no token, so
// anyone may flood a hook with refused calls, and only a count bounds that
// log whatever the rate; a time limit (event_retention_days) would let a
// day of flooding grow it without bound.
const DefaultKeepRequests = 1000

// Triggered is what an accepted trigger created: a change, or a workflow
// run (of the hook's WorkflowCode).
type Triggered struct {
	Change *run.Change
	Run    *run.WorkflowRun
}

// Nonce is a used signature or delivery id, kept until it expires.
type Nonce struct {
	HookID    string `gorm:"primaryKey"`
	Nonce     string `gorm:"primaryKey"`
	ExpiresAt time.Time
}

// TableName: the used signatures.
func (Nonce) TableName() string { return "hook_nonces" }

// HookRequests is the request log of one hook.
func (s *Store) HookRequests(actor *model.Actor, h *Hook) model.Source[HookRequest] {
	return model.NewSource[HookRequest](s.Store.Store, "id", func(db *gorm.DB) *gorm.DB {
		return db.Model(&HookRequest{}).Where("hook_id = ?", h.ID)
	}).Guarded(model.AdminPath)
}

// HookRequestFilters are the attributes a request log may filter and sort by.
var HookRequestFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "outcome": {Column: "outcome"}, "status": {Column: "status", Kind: listquery.Int},
	"scheme": {Column: "scheme", Nullable: true}, "created_at": {Column: "created_at", Kind: listquery.Time},
}

// GetHookRequest loads one request of h's log; 404 when unknown.
func (s *Store) GetHookRequest(ctx context.Context, actor *model.Actor, h *Hook, id string) (*HookRequest, error) {
	// Subscriptions and hooks see every event and act for their creator: /admin decides.
	if err := actor.RequireRead(model.AdminPath); err != nil {
		return nil, err
	}
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("hook_request", id)
	}
	var q HookRequest
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ? AND hook_id = ?", id, h.ID).Take(&q).Error })
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("hook_request", id)
	}
	return &q, err
}

var (
	hexSig = regexp.MustCompile(`^sha256=[0-9a-f]{64}$`)
	revRE  = regexp.MustCompile(`^[^\x00-\x20~^:?*\[\\]{1,255}$`)
)

// Trigger authenticates a call to hook id and creates its change, acting
// as the hook's creator. Unknown hook: 404 (nothing logged: there is no
// hook to log against). A missing, wrong, stale or replayed signature:
// 401. Every call to a hook, accepted or refused, is in its request log.
func (s *Store) Trigger(ctx context.Context, id string, in Signed) (*Triggered, *Hook, error) {
	h, err := s.GetHook(ctx, nil, id)
	if err != nil {
		return nil, nil, err
	}
	req := &HookRequest{ID: model.NewID(), HookID: h.ID, CreatedAt: s.Now()}
	if in.RemoteAddr != "" {
		req.RemoteAddr = &in.RemoteAddr
	}
	c, err := s.trigger(ctx, h, in, req)
	if err != nil {
		// The status the caller gets, from the one kind -> status table.
		req.Outcome, req.Status = "refused", jsonapi.Status(err)
		reason := steward.AsError(err).Detail
		req.Reason = &reason
		if lerr := s.Write(ctx, func(tx *gorm.DB) error { return s.logRequest(tx, req) }); lerr != nil {
			s.Log.Error("logging a refused hook request failed", "hook", h.ID, "err", lerr)
		}
		return nil, h, err
	}
	return c, h, nil
}

func unauthorized(format string, args ...any) error {
	return steward.Errorf(steward.KindUnauthorized, format, args...)
}

// logRequest writes req into its hook's log and drops the oldest entries
// beyond KeepRequests (ids are time-ordered UUIDv7s; the hook_id, id index
// finds the cut in one probe).
func (s *Store) logRequest(tx *gorm.DB, req *HookRequest) error {
	if err := tx.Create(req).Error; err != nil {
		return err
	}
	keep := s.KeepRequests
	if keep <= 0 {
		keep = DefaultKeepRequests
	}
	return tx.Exec(`DELETE FROM hook_requests WHERE hook_id = ? AND id < (
  SELECT id FROM hook_requests WHERE hook_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, req.HookID, req.HookID, keep-1).Error
}

func (s *Store) trigger(ctx context.Context, h *Hook, in Signed, req *HookRequest) (*Triggered, error) {
	nonce, err := s.verify(ctx, h, in, req)
	if err != nil {
		return nil, err
	}
	// The nonce is spent before anything else can fail, so a replay of a
	// request that failed later is refused all the same.
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", s.Now()).Delete(&Nonce{}).Error; err != nil {
			return err
		}
		return tx.Create(nonce).Error
	})
	if model.IsDuplicate(err) {
		return nil, unauthorized("this signature was already used: sign each request afresh")
	}
	if err != nil {
		return nil, err
	}
	if !h.Enabled {
		return nil, steward.Errorf(steward.KindForbidden, "this hook is disabled: enable it with PATCH /api/hooks/%s", h.ID)
	}
	if h.WorkflowCode != nil {
		return s.triggerWorkflow(ctx, h, in, req)
	}
	ci := run.ChangeInput{Action: h.Action, GitRemoteName: h.GitRemoteName, GitRev: h.GitRev,
		TemplateVersion: h.TemplateVersion, PropertyOverrides: h.PropertyOverrides,
		Metadata: model.JSONMap{"hook_id": h.ID}}
	if rev, err := bodyRev(in.Body, req.Scheme != nil && *req.Scheme == "github"); err != nil {
		return nil, err
	} else if rev != "" {
		if !h.AllowRevOverride {
			return nil, steward.Invalid("git_rev", "not_allowed", "this hook does not let a trigger choose git_rev")
		}
		ci.GitRev = &rev
	}
	req.GitRev = ci.GitRev
	actor, err := s.HookActor(ctx, h)
	if err != nil {
		return nil, err
	}
	// From here the trigger reads and writes as the hook's creator, with
	// their rules now.
	ctx = model.WithActor(ctx, actor)
	node, err := s.ChangeTarget(ctx, h.NodePath)
	if err != nil {
		return nil, err
	}
	p, err := s.PrepareChange(ctx, actor, node, ci)
	if err != nil {
		return nil, err
	}
	req.Outcome, req.Status, req.ChangeID = "accepted", 202, &p.Change.ID
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := p.Insert(tx); err != nil {
			return err
		}
		if err := s.logRequest(tx, req); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:hooks:trigger", hookSource(h), model.JSONMap{
			"hook_id": h.ID, "change_id": p.Change.ID, "node": h.NodePath, "git_rev": ci.GitRev, "scheme": *req.Scheme})
	})
	if err != nil {
		return nil, err
	}
	s.Wake()
	return &Triggered{Change: p.Change}, nil
}

// triggerWorkflow starts a run of the hook's workflow as its creator, as
// POST .../workflow_runs would (execute on the workflow), with the run,
// the request log entry and the trigger event in one transaction.
func (s *Store) triggerWorkflow(ctx context.Context, h *Hook, in Signed, req *HookRequest) (*Triggered, error) {
	if rev, err := bodyRev(in.Body, req.Scheme != nil && *req.Scheme == "github"); err != nil {
		return nil, err
	} else if rev != "" {
		return nil, steward.Invalid("git_rev", "not_allowed", "a workflow hook takes no git_rev: the workflow's steps name their own")
	}
	actor, err := s.HookActor(ctx, h)
	if err != nil {
		return nil, err
	}
	ctx = model.WithActor(ctx, actor)
	project, err := s.NodeByPath(ctx, h.NodePath)
	if err != nil {
		return nil, err
	}
	code := *h.WorkflowCode
	wf, v, err := s.workflowToRun(ctx, project, code, h.WorkflowVersion)
	if err != nil {
		return nil, err
	}
	if err := actor.Authorise(authz.Execute, project.Path+"/workflows/"+code, "node", project.Path+"/workflows/"+code); err != nil {
		return nil, err
	}
	var wr *run.WorkflowRun
	err = s.Write(ctx, func(tx *gorm.DB) (err error) {
		wr, _, err = s.InsertWorkflowRun(tx, actor, project, wf, v,
			run.WorkflowRunInput{Metadata: model.JSONMap{"hook_id": h.ID}, PropertyOverrides: h.PropertyOverrides}, nil)
		if err != nil {
			return err
		}
		req.Outcome, req.Status, req.WorkflowRunID = "accepted", 202, &wr.ID
		if err := s.logRequest(tx, req); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:hooks:trigger", hookSource(h), model.JSONMap{
			"hook_id": h.ID, "workflow_run_id": wr.ID, "workflow_code": code, "version": v.Version, "node": h.NodePath, "scheme": *req.Scheme})
	})
	if err != nil {
		req.Outcome, req.WorkflowRunID = "", nil
		return nil, err
	}
	s.Wake()
	return &Triggered{Run: wr}, nil
}

// verify checks the request's signature and returns the nonce that marks
// it used.
func (s *Store) verify(ctx context.Context, h *Hook, in Signed, req *HookRequest) (*Nonce, error) {
	secret, err := s.open(h.Secret, "hook:"+h.ID)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	switch {
	case in.Signature != "" || in.Timestamp != "":
		scheme := "steward"
		req.Scheme = &scheme
		ts, err := strconv.ParseInt(in.Timestamp, 10, 64)
		if err != nil {
			return nil, unauthorized("X-Steward-Timestamp must be the signing time in Unix seconds")
		}
		at := time.Unix(ts, 0)
		if at.Before(now.Add(-Tolerance)) || at.After(now.Add(Tolerance)) {
			return nil, unauthorized("X-Steward-Timestamp is more than %s from the server's time: sign each request afresh", Tolerance)
		}
		msg := append([]byte(in.Timestamp+"."), in.Body...)
		if !hexSig.MatchString(in.Signature) || !hmac.Equal([]byte(in.Signature), []byte(hexMAC(secret, msg))) {
			return nil, unauthorized("X-Steward-Signature does not match: send sha256=<hex HMAC-SHA256 of \"timestamp.body\"> with the hook's secret")
		}
		return &Nonce{HookID: h.ID, Nonce: in.Signature, ExpiresAt: at.Add(Tolerance)}, nil
	case in.GitHubSignature != "":
		scheme := "github"
		req.Scheme = &scheme
		if !hexSig.MatchString(in.GitHubSignature) || !hmac.Equal([]byte(in.GitHubSignature), []byte(hexMAC(secret, in.Body))) {
			return nil, unauthorized("X-Hub-Signature-256 does not match the body under the hook's secret")
		}
		if in.GitHubDelivery == "" || len(in.GitHubDelivery) > 200 {
			return nil, unauthorized("X-GitHub-Delivery is required with X-Hub-Signature-256 (it guards against replay)")
		}
		return &Nonce{HookID: h.ID, Nonce: "github:" + in.GitHubDelivery, ExpiresAt: now.Add(GitHubNonceTTL)}, nil
	}
	return nil, unauthorized("a signed request is required: X-Steward-Timestamp and X-Steward-Signature, or GitHub's X-Hub-Signature-256")
}

func hexMAC(secret string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// bodyRev reads the git_rev a trigger's body asks for: "" when the body is
// empty or names none. A GitHub push names its new commit as "after".
func bodyRev(body []byte, github bool) (string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", steward.Errorf(steward.KindBadRequest, "the body must be a JSON object (or empty)")
	}
	if data, ok := doc["data"].(map[string]any); ok { // a JSON:API document
		if attrs, ok := data["attributes"].(map[string]any); ok {
			doc = attrs
		}
	}
	v, has := doc["git_rev"]
	if !has && github {
		v, has = doc["after"]
		if s, _ := v.(string); strings.Trim(s, "0") == "" { // a deleted branch
			return "", nil
		}
	}
	if !has || v == nil {
		return "", nil
	}
	rev, ok := v.(string)
	if !ok || !revRE.MatchString(rev) {
		return "", steward.Invalid("git_rev", "invalid_rev", "git_rev must be a branch, tag or commit SHA")
	}
	return rev, nil
}

// HookActor is the hook's creator as an actor, with their groups and rules now:
// who a trigger acts as (and whose rules its answer is rendered with).
func (s *Store) HookActor(ctx context.Context, h *Hook) (*model.Actor, error) {
	u, err := s.UserByName(ctx, h.CreatedBy)
	if model.ModelNotFound(err) {
		return nil, steward.Errorf(steward.KindForbidden, "the user who made this hook (%s) no longer exists", h.CreatedBy)
	}
	if err != nil {
		return nil, err
	}
	return s.ActorFor(ctx, u)
}
