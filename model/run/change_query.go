package run

import (
	"context"
	"strings"

	"github.com/stewardhq/steward/model"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// changesQuery is the list of every change.
func changesQuery(db *gorm.DB) *gorm.DB { return db.Model(&Change{}) }

// ChangeFilters are the attributes a change list may filter and sort by
// (attribute -> column); the node columns are the correlated subqueries below.
var ChangeFilters = map[string]listquery.Field{
	"id":                     {Column: "id", Kind: listquery.UUID},
	"action":                 {Column: "action"},
	"name":                   {Column: "name", Nullable: true},
	"status_code":            {Column: "status"},
	"created_by":             {Column: "created_by"},
	"git_remote_name":        {Column: "git_remote_name"},
	"git_rev":                {Column: "git_rev"},
	"commit_sha":             {Column: "commit_sha", Nullable: true},
	"scheduled":              {Column: "scheduled", Kind: listquery.Bool},
	"requires_approval_from": {Column: "requires_approval_from", Nullable: true},
	"original_change_id":     {Column: "original_change_id", Kind: listquery.UUID, Nullable: true},
	"workflow_run_id":        {Column: "workflow_run_id", Kind: listquery.UUID, Nullable: true},
	"created_at":             {Column: "created_at", Kind: listquery.Time},
	"started_at":             {Column: "started_at", Kind: listquery.Time, Nullable: true},
	"finished_at":            {Column: "finished_at", Kind: listquery.Time, Nullable: true},
	"updated_at":             {Column: "updated_at", Kind: listquery.Time},
	"project_code":           {Column: changeNodeColumn(model.KindProject, "code")},
	"project_name":           {Column: changeNodeColumn(model.KindProject, "name")},
	"environment_code":       {Column: changeNodeColumn(model.KindEnvironment, "code"), Nullable: true},
	"environment_name":       {Column: changeNodeColumn(model.KindEnvironment, "name"), Nullable: true},
	"asset_code":             {Column: changeNodeColumn(model.KindAsset, "code"), Nullable: true},
	"asset_name":             {Column: changeNodeColumn(model.KindAsset, "name"), Nullable: true},
}

// ChangeList is changesQuery as a list source.
func (s *Store) ChangeList() model.Source[Change] {
	return model.NewSource[Change](s.Store, "id", func(db *gorm.DB) *gorm.DB { return changesQuery(db) }).Scoped(s.readableChanges)
}

// nodeChangesQuery is the list of the changes that run on node itself (a
// change's URL is below its own node, so lists and lookups agree).
func nodeChangesQuery(db *gorm.DB, node *model.Node) *gorm.DB {
	return db.Model(&Change{}).Where("node_id = ?", node.ID)
}

// NodeChangeList is nodeChangesQuery as a list source.
func (s *Store) NodeChangeList(node *model.Node) model.Source[Change] {
	return model.NewSource[Change](s.Store, "id", func(db *gorm.DB) *gorm.DB { return nodeChangesQuery(db, node) })
}

// stepsQuery is the list of every step.
func stepsQuery(db *gorm.DB) *gorm.DB { return db.Model(&Step{}) }

// StepFilters are the attributes a step list may filter and sort by (attribute -> column).
var StepFilters = map[string]listquery.Field{
	"id":                       {Column: "id", Kind: listquery.UUID},
	"change_id":                {Column: "change_id", Kind: listquery.UUID},
	"parent_id":                {Column: "parent_id", Kind: listquery.UUID, Nullable: true},
	"action":                   {Column: "action"},
	"name":                     {Column: "name", Nullable: true},
	"step_type":                {Column: "step_type"},
	"status_code":              {Column: "status"},
	"child_execution_strategy": {Column: "child_execution_strategy"},
	"requires_approval_from":   {Column: "requires_approval_from", Nullable: true},
	"skip_on_retry":            {Column: "skip_on_retry", Kind: listquery.Bool},
	"position":                 {Column: "position", Kind: listquery.Int},
	"created_at":               {Column: "created_at", Kind: listquery.Time},
	"started_at":               {Column: "started_at", Kind: listquery.Time, Nullable: true},
	"finished_at":              {Column: "finished_at", Kind: listquery.Time, Nullable: true},
	"updated_at":               {Column: "updated_at", Kind: listquery.Time},
}

// StepList is stepsQuery as a list source.
func (s *Store) StepList() model.Source[Step] {
	return model.NewSource[Step](s.Store, "id", func(db *gorm.DB) *gorm.DB { return stepsQuery(db) }).Scoped(s.readableSteps)
}

// Change list columns that come from the change's node and its ancestors,
// as correlated subqueries so filters and sorts stay in SQL and the changes
// table keeps its unqualified column names.
const (
	changeNodeIs  = " WHERE c.id = changes.node_id)"
	changeProject = "(SELECT p.%s FROM nodes c JOIN nodes p ON p.id = COALESCE(c.project_id, c.id)" + changeNodeIs
	// The environment is the node itself or, for an asset, its parent.
	changeEnvironment = "(SELECT e.%s FROM nodes c JOIN nodes e ON e.kind = 'environment' AND (e.id = c.id OR e.id = c.parent_id)" + changeNodeIs
	changeAsset       = "(SELECT c.%s FROM nodes c WHERE c.id = changes.node_id AND c.kind = 'asset')"
)

// changeNodeColumn is the SQL for attribute (code or name) of the change's
// project, environment or asset (kind), for list filters.
func changeNodeColumn(kind, attribute string) string {
	if attribute != "code" && attribute != "name" {
		panic("changeNodeColumn: unsupported attribute " + attribute)
	}
	tpl := map[string]string{model.KindProject: changeProject, model.KindEnvironment: changeEnvironment, model.KindAsset: changeAsset}[kind]
	return strings.Replace(tpl, "%s", attribute, 1)
}

// GetChange loads change id; 404 when missing.
func (s *Store) GetChange(ctx context.Context, id string) (*Change, error) {
	return s.findChange(ctx, id, nil)
}

// GetNodeChange loads change id of node; a change of another node is a 404.
func (s *Store) GetNodeChange(ctx context.Context, node *model.Node, id string) (*Change, error) {
	return s.findChange(ctx, id, node)
}

func (s *Store) findChange(ctx context.Context, id string, node *model.Node) (*Change, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("change", id)
	}
	var c Change
	err := s.Read(ctx, func(db *gorm.DB) error {
		q := changesQuery(db)
		if node != nil {
			q = nodeChangesQuery(db, node)
		}
		return s.readableChanges(ctx, q).Where("id = ?", id).Take(&c).Error
	})
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("change", id)
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// GetStep loads step id; 404 when missing.
func (s *Store) GetStep(ctx context.Context, id string) (*Step, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("step", id)
	}
	var st Step
	err := s.Read(ctx, func(db *gorm.DB) error {
		return s.readableSteps(ctx, db.Model(&Step{})).Where("id = ?", id).Take(&st).Error
	})
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("step", id)
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// ChangeTarget resolves a parent_path (a node path, with or without /api)
// to the node a change will run on: a missing node is a 422 at parent_path,
// as the URL itself exists.
func (s *Store) ChangeTarget(ctx context.Context, parentPath string) (*model.Node, error) {
	const ptr = "parent_path"
	p := strings.TrimSuffix(strings.TrimPrefix(parentPath, "/api"), "/")
	if p == "" || !strings.HasPrefix(p, "/projects/") {
		return nil, steward.Invalid(ptr, "invalid_parent_path",
			"parent_path must be the path of a project, environment or asset, e.g. /projects/opc/environments/dev")
	}
	for i, seg := range strings.Split(p[1:], "/") {
		if i%2 == 1 && model.ValidateCode(seg) != nil {
			return nil, steward.Invalid(ptr, "unknown_node", "no project, environment or asset at %q", strings.ToValidUTF8(p, "?"))
		}
	}
	n, err := s.NodeByPath(ctx, p)
	if model.ModelNotFound(err) {
		return nil, steward.Invalid(ptr, "unknown_node", "no project, environment or asset at %q", p)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Read(ctx, func(db *gorm.DB) error { return nodeOpen(db, n) }); err != nil {
		e := steward.AsError(err)
		e.Field = ptr
		return nil, e
	}
	return n, nil
}

// ChangeSteps loads the steps of the given changes in tree order (position),
// keyed by change id.
func (s *Store) ChangeSteps(ctx context.Context, changeIDs []string) (map[string][]Step, error) {
	out := map[string][]Step{}
	if len(changeIDs) == 0 {
		return out, nil
	}
	var steps []Step
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Where("change_id IN ?", changeIDs).Order("change_id, position").Find(&steps).Error
	}); err != nil {
		return nil, err
	}
	for _, st := range steps {
		out[st.ChangeID] = append(out[st.ChangeID], st)
	}
	return out, nil
}

// StepChildren lists the child step ids of each given step, in order.
func (s *Store) StepChildren(ctx context.Context, stepIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(stepIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ID       string
		ParentID string
	}
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Select("id", "parent_id").Where("parent_id IN ?", stepIDs).Order("position").Scan(&rows).Error
	}); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ParentID] = append(out[r.ParentID], r.ID)
	}
	return out, nil
}

// StepPropertyVersions lists the property versions each given step wrote
// (its accepted STEWARD_PROPERTIES_PATCH), oldest first.
func (s *Store) StepPropertyVersions(ctx context.Context, stepIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(stepIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ID     string
		StepID string
	}
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&model.PropertySetVersion{}).Select("id", "step_id").Where("step_id IN ?", stepIDs).Order("id").Scan(&rows).Error
	}); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.StepID] = append(out[r.StepID], r.ID)
	}
	return out, nil
}

// ChangesByID loads changes by id, keyed by id.
func (s *Store) ChangesByID(ctx context.Context, ids []string) (map[string]*Change, error) {
	out := map[string]*Change{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Change
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return s.readableChanges(ctx, db.Model(&Change{})).Where("id IN ?", ids).Find(&rows).Error
	}); err != nil {
		return nil, err
	}
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	return out, nil
}

// ChangeApprovalStep is the wait step a change's node settings added in
// front of its action (see buildStepTree), or nil. steps are the change's
// steps in position order.
func ChangeApprovalStep(c *Change, steps []Step) *Step {
	if c.RequiresApprovalFrom == nil || len(steps) < 2 {
		return nil
	}
	st := &steps[1]
	if st.Kind == StepWait && st.ParentID != nil && *st.ParentID == steps[0].ID && st.Name != nil &&
		*st.Name == ChangeApprovalName && st.RequiresApprovalFrom != nil && *st.RequiresApprovalFrom == *c.RequiresApprovalFrom {
		return st
	}
	return nil
}
