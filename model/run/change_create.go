package run

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/stewardhq/steward/pkg/authz"

	"github.com/stewardhq/steward/model"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
)

// ChangeInput is what a client sends to create a change. TemplateVersion
// (asset changes only) runs another version of the asset's template than
// the one the asset uses.
type ChangeInput struct {
	Action                      string
	Name                        *string
	GitRemoteName, GitRev       *string
	Metadata, PropertyOverrides model.JSONMap
	TemplateVersion             *string
	Scheduled                   bool    // made by a schedule, not a client: never read from a request
	WorkflowRunID               *string // made by a step of this workflow run: never read from a request
}

const (
	ptrAction          = "action"
	ptrGitRemoteName   = "git_remote_name"
	ptrGitRev          = "git_rev"
	ptrTemplateVersion = "template_version"
)

// changeOrigin is where a change's actions come from: a remote, a rev and
// the commit it resolved to.
type changeOrigin struct {
	remote            gitops.Remote // opened credentials: never render or log
	remoteID          *string
	remoteName, rev   string
	sha               string
	templateVersionID *string
	templateCode      string // asset changes: actions.yaml may sit in this folder
	// read: file (actions.yaml, "" when missing) was read with the rev.
	read bool
	file string
	data []byte
}

// CreateChange validates in against node and the commit it resolves to,
// then stores the change (initializing) with its whole step tree, in one
// transaction, and wakes the engine. Nothing is written when anything is
// wrong: an archived node, a remote or rev that does not resolve, an
// actions.yaml without the action, a step tree with a cycle.
func (s *Store) CreateChange(ctx context.Context, actor *model.Actor, node *model.Node, in ChangeInput) (*Change, error) {
	c, _, err := s.CreateChangeView(ctx, actor, node, in)
	return c, err
}

// CreateChangeView is CreateChange that also returns the created change's
// view as of its transaction (nodes, steps, queue facts), so that the answer
// to a POST costs no second read.
func (s *Store) CreateChangeView(ctx context.Context, actor *model.Actor, node *model.Node, in ChangeInput) (*Change, *ChangeView, error) {
	p, err := s.PrepareChange(ctx, actor, node, in)
	if err != nil {
		return nil, nil, err
	}
	c := p.Change
	view := &ChangeView{Nodes: map[string]*model.Node{}, Steps: map[string][]Step{}, Queue: map[string]QueueInfo{},
		Runs: map[string]string{}}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := p.insertRows(tx); err != nil {
			return err
		}
		set := p.lineage.parallel()
		blockers, sameNode, err := openQueueFor(tx, p.node, c, set)
		if blockers == nil {
			blockers = []string{}
		}
		view.Queue[c.ID] = QueueInfo{ParallelChangesAllowed: set.AllowParallelChanges,
			BlockedByChangeInSameParent: sameNode, BlockedByQueue: blockers}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	s.Wake()
	for _, n := range p.lineage.nodes {
		view.Nodes[n.ID] = n
	}
	steps := make([]Step, len(p.steps))
	for i, st := range p.steps {
		steps[i] = *st
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Position < steps[j].Position })
	view.Steps[c.ID] = steps
	if c.TemplateVersionID != nil {
		if view.Versions, err = s.VersionRefs(ctx, []string{*c.TemplateVersionID}); err != nil {
			return nil, nil, err
		}
	}
	return c, view, nil
}

// PreparedChange is a change checked against its node and commit (every
// read done, nothing written), to be inserted in a transaction of the
// caller's: a scheduled firing or a workflow step commits its own row and
// the change together, so neither exists without the other.
type PreparedChange struct {
	Change *Change
	steps  []*Step
	actor  *model.Actor
	node   *model.Node
	store  *Store
	// lineage is the node's, read as it was prepared: its settings decide
	// approvals and, for the created change's document, the queue.
	lineage *lineage
}

// PrepareChange does everything CreateChange does before writing.
func (s *Store) PrepareChange(ctx context.Context, actor *model.Actor, node *model.Node, in ChangeInput) (*PreparedChange, error) {
	if err := actor.Authorise(authz.Execute, node.Path+"/actions/"+in.Action, "node", node.Path+"/actions/"+in.Action); err != nil {
		return nil, err
	}
	if err := validateChangeInput(in); err != nil {
		return nil, err
	}
	var l *lineage
	if err := s.Read(ctx, func(db *gorm.DB) (err error) { l, err = readLineage(db, node); return err }); err != nil {
		return nil, err
	}
	if err := l.open(node); err != nil {
		return nil, err
	}
	origin, err := s.changeOrigin(ctx, node, l, in)
	if err != nil {
		return nil, err
	}
	file, where, err := s.readChangeActions(ctx, origin)
	if err != nil {
		return nil, err
	}
	if _, ok := file.Actions[in.Action]; !ok {
		return nil, unknownAction(file, where, origin.sha, in.Action)
	}
	approval := l.approvalGroup()
	now := s.Now()
	c := &Change{ID: model.NewID(), NodeID: node.ID, Action: in.Action, Name: in.Name, Status: StatusInitializing,
		GitRemoteID: origin.remoteID, GitRemoteName: origin.remoteName, GitRev: origin.rev, CommitSHA: &origin.sha,
		TemplateVersionID: origin.templateVersionID, Metadata: orEmpty(in.Metadata),
		PropertyOverrides: orEmpty(in.PropertyOverrides), RequiresApprovalFrom: approval, Scheduled: in.Scheduled, WorkflowRunID: in.WorkflowRunID,
		CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	steps, err := buildStepTree(file, where, c.ID, in.Action, approval, now)
	if err != nil {
		return nil, err
	}
	return &PreparedChange{Change: c, steps: steps, actor: actor, node: node, store: s, lineage: l}, nil
}

// Insert writes the prepared change, its steps and its event in tx. The
// caller wakes the engine (Store.Wake) once tx has committed.
func (p *PreparedChange) Insert(tx *gorm.DB) error {
	// Re-checked inside the transaction: the node may have been archived
	// while the commit was being read.
	if err := nodeOpen(tx, p.node); err != nil {
		return err
	}
	return p.insertRows(tx)
}

// insertRows is Insert without its check of the node.
func (p *PreparedChange) insertRows(tx *gorm.DB) error {
	c := p.Change
	if p.store.postgres() && !hasNumbers(c.Metadata) && !hasNumbers(c.PropertyOverrides) {
		// Nothing jsonb could respell: the change, its steps and its event
		// in one statement.
		rows, err := insertStatements(tx, []*Change{c}, false)
		if err != nil {
			return err
		}
		steps, err := insertStatements(tx, p.steps, false)
		if err != nil {
			return err
		}
		return p.store.ExecWithEvents(tx, append(rows, steps...), []*model.Event{p.createEvent()}, nil)
	}
	q := tx
	if p.store.postgres() {
		// jsonb keeps numbers exact but may respell them (1e2 is 100): the
		// change carries what a read would show.
		q = q.Clauses(clause.Returning{Columns: []clause.Column{{Name: "metadata"}, {Name: "property_overrides"}}})
	}
	if err := q.Create(c).Error; err != nil {
		return err
	}
	if !p.store.postgres() {
		if err := tx.CreateInBatches(p.steps, 200).Error; err != nil {
			return err
		}
		return p.store.RecordAll(tx, []*model.Event{p.createEvent()}, nil)
	}
	// The steps and the event in one statement (through GORM, so counted).
	steps, err := insertStatements(tx, p.steps, false)
	if err != nil {
		return err
	}
	return p.store.ExecWithEvents(tx, steps, []*model.Event{p.createEvent()}, nil)
}

func validateChangeInput(in ChangeInput) error {
	if err := ValidateActionName(ptrAction, in.Action); err != nil {
		return err
	}
	if in.Name != nil && (strings.TrimSpace(*in.Name) == "" || len(*in.Name) > 200) {
		return steward.Invalid("name", "invalid_name", "name must be 1 to 200 characters when given")
	}
	return nil
}

// hasNumbers reports whether a JSON document holds a number anywhere (the
// only values whose text jsonb may change).
func hasNumbers(v any) bool {
	switch x := v.(type) {
	case model.JSONMap:
		return hasNumbers(map[string]any(x))
	case map[string]any:
		for _, e := range x {
			if hasNumbers(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNumbers(e) {
				return true
			}
		}
	case string, bool, nil:
	default:
		return true // json.Number, float64 and anything unforeseen
	}
	return false
}

func orEmpty(m model.JSONMap) model.JSONMap {
	if m == nil {
		return model.JSONMap{}
	}
	return m
}

// nodeOpen refuses a node that is archived or sits below an archived one.
func nodeOpen(db *gorm.DB, n *model.Node) error {
	var closed []model.Node
	if err := db.Where("path IN ? AND archived = ?", model.Lineage(n.Path), true).Order("path").Limit(1).Find(&closed).Error; err != nil {
		return err
	}
	if len(closed) == 0 {
		return nil
	}
	return archivedError(n, &closed[0])
}

func archivedError(n, closed *model.Node) error {
	if closed.ID == n.ID {
		return &steward.Error{Kind: steward.KindInvalid, Code: "archived_node",
			Detail: fmt.Sprintf("%s %s is archived and accepts no new changes", n.Kind, n.Path)}
	}
	return &steward.Error{Kind: steward.KindInvalid, Code: "archived_node",
		Detail: fmt.Sprintf("%s %s is archived, so %s %s accepts no new changes", closed.Kind, closed.Path, n.Kind, n.Path)}
}

// changeOrigin finds the remote and commit a change on node runs: the named
// remote and rev for projects and environments, the template version's
// commit for assets.
func (s *Store) changeOrigin(ctx context.Context, node *model.Node, l *lineage, in ChangeInput) (*changeOrigin, error) {
	if s.Git == nil {
		return nil, steward.Errorf(steward.KindInternal, "no git mirrors configured")
	}
	if node.Kind == model.KindAsset {
		return s.assetChangeOrigin(ctx, node, in)
	}
	if in.TemplateVersion != nil {
		return nil, steward.Invalid(ptrTemplateVersion, "not_allowed",
			"template_version applies to asset changes only; %s changes name git_remote_name and git_rev", node.Kind)
	}
	switch {
	case in.GitRemoteName == nil || *in.GitRemoteName == "":
		return nil, steward.Invalid(ptrGitRemoteName, "required", "git_remote_name is required: the name of one of the project's git remotes")
	case in.GitRev == nil || *in.GitRev == "":
		return nil, steward.Invalid(ptrGitRev, "required", "git_rev is required: a branch, tag or commit SHA")
	}
	if err := gitops.ValidateRev(*in.GitRev); err != nil {
		return nil, steward.Invalid(ptrGitRev, "invalid_git_rev", "%s", err.Error())
	}
	project := l.project()
	if project == nil {
		return nil, steward.Errorf(steward.KindInternal, "node %s has no project", node.Path)
	}
	g, remote, err := s.RemoteForRun(ctx, project, *in.GitRemoteName)
	if err != nil {
		return nil, err
	}
	// The rev and actions.yaml in one use of the mirror.
	sha, file, data, err := s.Git.ResolveRead(ctx, remote, *in.GitRev, []string{"actions.yaml"})
	if err != nil {
		return nil, originGitError(err, *in.GitRev, g.Name)
	}
	return &changeOrigin{remote: remote, remoteID: &g.ID, remoteName: g.Name, rev: *in.GitRev, sha: sha,
		read: true, file: file, data: data}, nil
}

func (s *Store) assetChangeOrigin(ctx context.Context, asset *model.Node, in ChangeInput) (*changeOrigin, error) {
	for _, a := range []struct {
		ptr string
		v   *string
	}{{ptrGitRemoteName, in.GitRemoteName}, {ptrGitRev, in.GitRev}} {
		if a.v != nil {
			return nil, steward.Invalid(a.ptr, "not_allowed", "asset changes run their template version's commit; leave %s out",
				a.ptr)
		}
	}
	tpl, tv, remote, err := s.AssetTemplate(ctx, asset)
	if err != nil {
		return nil, err
	}
	if tpl == nil {
		return nil, &steward.Error{Kind: steward.KindInvalid, Code: "no_template",
			Detail: fmt.Sprintf("asset %s has no template, so it has no actions; give it a template_name and template_version", asset.Path)}
	}
	if in.TemplateVersion != nil && *in.TemplateVersion != tv.Version {
		v, err := s.GetTemplateVersion(ctx, tpl, *in.TemplateVersion)
		if model.ModelNotFound(err) {
			return nil, steward.Invalid(ptrTemplateVersion, "unknown_template_version", "template %q has no version %q", tpl.Code, *in.TemplateVersion)
		}
		if err != nil {
			return nil, err
		}
		if v.State != model.VersionReady || v.CommitSHA == nil || v.Archived {
			state := v.State
			if v.Archived {
				state = "archived"
			}
			return nil, steward.Invalid(ptrTemplateVersion, "template_version_not_ready",
				"template %s version %s is %s; changes run ready versions only", tpl.Code, v.Version, state)
		}
		tv = v
	}
	return &changeOrigin{remote: remote, remoteName: tpl.Code, rev: tv.GitRev, sha: *tv.CommitSHA,
		templateVersionID: &tv.ID, templateCode: tpl.Code}, nil
}

// originGitError makes a failed resolve a 422 that names the rev and the
// remote: at git_rev when the rev is the problem, else at git_remote_name.
func originGitError(err error, rev, remoteName string) error {
	var ge *gitops.Error
	if !errors.As(err, &ge) {
		return err
	}
	ptr := ptrGitRemoteName
	if ge.Kind == gitops.ErrInvalid || (ge.Kind == gitops.ErrNotFound && ge.Rev != "") {
		ptr = ptrGitRev
	}
	e := steward.AsError(model.GitError(err, ptr))
	e.Detail = fmt.Sprintf("git_rev %q cannot be resolved on git remote %q: %s", rev, remoteName, e.Detail)
	return e
}

// readChangeActions reads and parses the actions file at the origin's
// commit: <template_code>/actions.yaml first for asset templates (as the
// template resolver does), then actions.yaml at the root. where names the
// file and commit in later errors.
func (s *Store) readChangeActions(ctx context.Context, o *changeOrigin) (*model.ActionsFile, string, error) {
	files := []string{"actions.yaml"}
	if o.templateCode != "" {
		files = []string{path.Join(o.templateCode, "actions.yaml"), "actions.yaml"}
	}
	for _, file := range files {
		var data []byte
		var err error
		switch {
		case o.read && o.file == file:
			data = o.data
		case o.read:
			continue
		default:
			data, err = s.Git.ReadFile(ctx, o.remote, o.sha, file)
		}
		if errors.Is(err, gitops.ErrFileNotFound) {
			continue
		}
		if err != nil {
			return nil, "", model.GitError(err, "")
		}
		af, err := model.ParseActionsFile(file, data)
		if err != nil {
			return nil, "", &steward.Error{Kind: steward.KindInvalid, Code: "invalid_actions_file", Field: ptrAction,
				Meta: map[string]any{"commit_sha": o.sha}, Detail: fmt.Sprintf("commit %s: %s", o.sha, err.Error())}
		}
		return af, fmt.Sprintf("%s at commit %s", file, o.sha), nil
	}
	return nil, "", &steward.Error{Kind: steward.KindInvalid, Code: "no_actions_file", Field: ptrAction,
		Meta:   map[string]any{"commit_sha": o.sha},
		Detail: fmt.Sprintf("commit %s (git_rev %q of %q) has no %s", o.sha, o.rev, o.remoteName, strings.Join(files, " or "))}
}

func unknownAction(file *model.ActionsFile, where, sha, action string) error {
	closest := closestActions(file, action)
	detail := fmt.Sprintf("action %q is not defined in %s", action, where)
	if len(closest) > 0 {
		detail += "; closest: " + strings.Join(closest, ", ")
	} else {
		names := file.Names
		if len(names) > 20 {
			names = append(names[:20:20], "...")
		}
		detail += "; defined: " + strings.Join(names, ", ")
	}
	return &steward.Error{Kind: steward.KindInvalid, Code: "unknown_action", Field: ptrAction, Detail: detail,
		Meta: map[string]any{"commit_sha": sha, "closest_actions": closest}}
}
