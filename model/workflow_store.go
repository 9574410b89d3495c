package model

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// WorkflowInput is what a client sends to create or update a workflow.
// Steps (raw JSON, nil when absent) and SourceYAML give the definition: one
// of them, or both when they agree. Nil fields keep what the latest version
// has; Code is read on create only.
type WorkflowInput struct {
	Code           string
	Name           *string
	Description    *string
	DescriptionSet bool // Description was sent (null clears it)
	Draft          *bool
	Archived       *bool
	Steps          json.RawMessage
	SourceYAML     *string
}

// WorkflowView is a workflow as its document shows it: the latest
// (unarchived) version's content and the latest published version's number.
type WorkflowView struct {
	*Workflow
	Latest          *WorkflowVersion
	LatestPublished *int
}

// WorkflowFilters are the attributes a workflow list may filter and sort by (attribute -> column).
var WorkflowFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "code": {Column: "code"},
	"archived": {Column: "archived", Kind: listquery.Bool}, "created_by": {Column: "created_by"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// WorkflowVersionFilters are the attributes a workflow version list may filter and sort by.
var WorkflowVersionFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "version": {Column: "version", Kind: listquery.Int},
	"name": {Column: "name"}, "description": {Column: "description", Nullable: true},
	"draft": {Column: "draft", Kind: listquery.Bool}, "archived": {Column: "archived", Kind: listquery.Bool},
	"created_by": {Column: "created_by"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

func workflowsQuery(db *gorm.DB, project *Node) *gorm.DB {
	return db.Model(&Workflow{}).Where("project_id = ?", project.ID)
}

func workflowVersionsQuery(db *gorm.DB, wf *Workflow) *gorm.DB {
	return db.Model(&WorkflowVersion{}).Where("workflow_id = ?", wf.ID)
}

// WorkflowList is the project's workflows as a list source.
func (s *Store) WorkflowList(project *Node) Source[Workflow] {
	return NewSource[Workflow](s, "id", func(db *gorm.DB) *gorm.DB { return workflowsQuery(db, project) }).
		scoped(func(ctx context.Context, db *gorm.DB) *gorm.DB { return s.ReadableWorkflows(ctx, db, "workflows.id") })
}

// WorkflowVersionList is the workflow's versions as a list source (ids are
// time-ordered, so id order is version order).
func (s *Store) WorkflowVersionList(wf *Workflow) Source[WorkflowVersion] {
	return NewSource[WorkflowVersion](s, "id", func(db *gorm.DB) *gorm.DB { return workflowVersionsQuery(db, wf) })
}

// GetWorkflow loads the project's workflow by code; 404 when missing.
func (s *Store) GetWorkflow(ctx context.Context, project *Node, code string) (*Workflow, error) {
	if project.Kind != KindProject || ValidateCode(code) != nil || !CanRead(ctx, project.Path+"/workflows/"+code) {
		return nil, steward.NotFound("workflow", code)
	}
	var wf Workflow
	err := s.Read(ctx, func(db *gorm.DB) error { return workflowsQuery(db, project).Where("code = ?", code).Take(&wf).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("workflow", code)
	}
	if err != nil {
		return nil, err
	}
	return &wf, nil
}

// GetWorkflowVersion loads version number of wf; 404 when missing.
func (s *Store) GetWorkflowVersion(ctx context.Context, wf *Workflow, number string) (*WorkflowVersion, error) {
	n, err := strconv.Atoi(number)
	if err != nil || n < 1 {
		return nil, steward.NotFound("workflow version", number)
	}
	var v WorkflowVersion
	err = s.Read(ctx, func(db *gorm.DB) error { return workflowVersionsQuery(db, wf).Where("version = ?", n).Take(&v).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("workflow version", number)
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// WorkflowViews loads each workflow's latest and latest published version
// in three queries, whatever the number of workflows.
func (s *Store) WorkflowViews(ctx context.Context, wfs []*Workflow) ([]*WorkflowView, error) {
	out := make([]*WorkflowView, len(wfs))
	if len(wfs) == 0 {
		return out, nil
	}
	ids := make([]string, len(wfs))
	for i, wf := range wfs {
		ids[i] = wf.ID
	}
	latest := map[string]*WorkflowVersion{}
	published := map[string]int{}
	err := s.Read(ctx, func(db *gorm.DB) error {
		// The latest unarchived version; an archived workflow whose versions
		// are all archived shows its highest one.
		var rows []WorkflowVersion
		if err := db.Where("workflow_id IN ? AND version = (SELECT MAX(v.version) FROM workflow_versions v "+
			"WHERE v.workflow_id = workflow_versions.workflow_id AND (v.archived = ? OR NOT EXISTS "+
			"(SELECT 1 FROM workflow_versions u WHERE u.workflow_id = v.workflow_id AND u.archived = ?)))", ids, false, false).
			Find(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			latest[rows[i].WorkflowID] = &rows[i]
		}
		var heads []struct {
			WorkflowID string
			Version    int
		}
		if err := db.Model(&WorkflowVersion{}).Select("workflow_id, MAX(version) AS version").
			Where("workflow_id IN ? AND draft = ? AND archived = ?", ids, false, false).Group("workflow_id").Scan(&heads).Error; err != nil {
			return err
		}
		for _, h := range heads {
			published[h.WorkflowID] = h.Version
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, wf := range wfs {
		v := &WorkflowView{Workflow: wf, Latest: latest[wf.ID]}
		if n, ok := published[wf.ID]; ok {
			v.LatestPublished = &n
		}
		if v.Latest == nil {
			return nil, fmt.Errorf("workflow %s has no version", wf.ID)
		}
		out[i] = v
	}
	return out, nil
}

// WorkflowView is WorkflowViews for one workflow.
func (s *Store) WorkflowView(ctx context.Context, wf *Workflow) (*WorkflowView, error) {
	views, err := s.WorkflowViews(ctx, []*Workflow{wf})
	if err != nil {
		return nil, err
	}
	return views[0], nil
}

// CreateWorkflow adds a workflow to project with its first version (a
// draft unless Draft is false). The definition is checked as a save checks
// it (see checkDefinition); the code is unique in the project.
func (s *Store) CreateWorkflow(ctx context.Context, actor *Actor, project *Node, in WorkflowInput) (*WorkflowView, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/workflows/"+in.Code, "node", project.Path+"/workflows/"+in.Code); err != nil {
		return nil, err
	}
	if project.Kind != KindProject {
		return nil, steward.NotFound("project", project.Path)
	}
	if err := ValidateCode(in.Code); err != nil {
		return nil, err
	}
	if in.Archived != nil && *in.Archived {
		return nil, steward.Invalid("archived", "not_allowed", "a new workflow cannot be archived")
	}
	def, err := buildDefinition(in.Code, in, nil)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	wf := &Workflow{ID: NewID(), ProjectID: project.ID, Code: in.Code, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	v := def.version(wf, 1, in.Draft == nil || *in.Draft, actor, now)
	err = s.Write(ctx, func(tx *gorm.DB) error {
		var p Node
		if err := tx.Where("id = ?", project.ID).Take(&p).Error; err != nil {
			return err
		}
		if p.Archived {
			return &steward.Error{Kind: steward.KindInvalid, Code: "archived_parent",
				Detail: fmt.Sprintf("project %q is archived and accepts no new workflows", p.Code)}
		}
		taken := steward.Invalid("code", "taken", "workflow code %q is already used in this project", in.Code)
		var n int64
		if err := workflowsQuery(tx, project).Where("code = ?", in.Code).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return taken
		}
		if err := def.check(tx, project.Code, in.Code); err != nil {
			return err
		}
		if err := tx.Create(wf).Error; err != nil {
			if IsDuplicate(TranslateError(err)) {
				return taken
			}
			return err
		}
		if err := tx.Create(v).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:workflows:create", project.EventSource(), workflowEventAttrs(wf, v))
	})
	if err != nil {
		return nil, err
	}
	return &WorkflowView{Workflow: wf, Latest: v, LatestPublished: publishedNumber(v)}, nil
}

func publishedNumber(v *WorkflowVersion) *int {
	if v.Draft {
		return nil
	}
	n := v.Version
	return &n
}

func workflowEventAttrs(wf *Workflow, v *WorkflowVersion) JSONMap {
	attrs := JSONMap{"workflow": wf.Code, "workflow_id": wf.ID}
	if v != nil {
		attrs["version"], attrs["workflow_version_id"], attrs["draft"] = v.Version, v.ID, v.Draft
	}
	return attrs
}

// UpdateWorkflow changes wf. The definition (name, description, steps,
// draft) goes into its latest version when that is a draft that never ran,
// else into a new version; unsent fields keep the latest version's values,
// and an unsent draft keeps its state (so editing a published workflow
// publishes the edit as the next version). archived archives or unarchives
// the workflow; an archived workflow takes no other change.
func (s *Store) UpdateWorkflow(ctx context.Context, actor *Actor, project *Node, wf *Workflow, in WorkflowInput) (*WorkflowView, error) {
	if err := actor.Authorise(authz.Update, project.Path+"/workflows/"+wf.Code, "node", project.Path+"/workflows/"+wf.Code); err != nil {
		return nil, err
	}
	content := in.Name != nil || in.DescriptionSet || in.Draft != nil || in.Steps != nil || in.SourceYAML != nil
	var out *WorkflowView
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var cur Workflow
		if err := tx.Where("id = ?", wf.ID).Take(&cur).Error; err != nil {
			return err
		}
		now := s.Now()
		latest, err := latestVersion(tx, &cur)
		if err != nil {
			return err
		}
		if in.Archived != nil && *in.Archived != cur.Archived {
			cur.Archived = *in.Archived
			event := "api:workflows:update"
			if cur.Archived {
				event = "api:workflows:archive"
			}
			if err := s.Record(tx, actor, event, project.EventSource(), JSONMap{"workflow": cur.Code, "workflow_id": cur.ID, "archived": cur.Archived}); err != nil {
				return err
			}
		}
		if content && cur.Archived {
			return steward.Invalid("archived", "archived_workflow", "workflow %q is archived; unarchive it (archived: false) to change it", cur.Code)
		}
		if content {
			if latest, err = s.saveDefinition(tx, actor, project, &cur, latest, in, now); err != nil {
				return err
			}
		}
		cur.UpdatedAt = now
		if err := tx.Model(&Workflow{}).Where("id = ?", cur.ID).Updates(map[string]any{"archived": cur.Archived, "updated_at": now}).Error; err != nil {
			return err
		}
		out = &WorkflowView{Workflow: &cur, Latest: latest}
		return nil
	})
	if err != nil {
		return nil, err
	}
	view, err := s.WorkflowView(ctx, out.Workflow)
	if err != nil {
		return nil, err
	}
	return view, nil
}

// saveDefinition writes the new definition in place (a draft that never
// ran) or as the next version, and records api:workflows:update.
func (s *Store) saveDefinition(tx *gorm.DB, actor *Actor, project *Node, wf *Workflow, latest *WorkflowVersion, in WorkflowInput, now time.Time) (*WorkflowVersion, error) {
	def, err := buildDefinition(wf.Code, in, latest)
	if err != nil {
		return nil, err
	}
	if err := def.check(tx, project.Code, wf.Code); err != nil {
		return nil, err
	}
	draft := latest.Draft
	if in.Draft != nil {
		draft = *in.Draft
	}
	ran, err := versionsThatRan(tx, []WorkflowVersion{*latest})
	if err != nil {
		return nil, err
	}
	var v *WorkflowVersion
	if latest.Draft && !ran[latest.ID] {
		v = latest
		v.Name, v.Description, v.Draft, v.SourceYAML, v.Steps, v.UpdatedAt = def.name, def.description, draft, def.yaml, def.steps, now
		if err := tx.Model(&WorkflowVersion{}).Where("id = ?", v.ID).Updates(map[string]any{"name": v.Name,
			"description": v.Description, "draft": v.Draft, "source_yaml": v.SourceYAML, "steps": v.Steps, "updated_at": now}).Error; err != nil {
			return nil, err
		}
	} else {
		if draft == latest.Draft && def.name == latest.Name && sameDescription(def.description, latest.Description) &&
			sameSteps(def.steps, latest.Steps) {
			// Nothing changed (a publish step of a pipeline run again): no
			// new version, no event.
			return latest, nil
		}
		var highest int
		if err := workflowVersionsQuery(tx, wf).Select("COALESCE(MAX(version), 0)").Scan(&highest).Error; err != nil {
			return nil, err
		}
		v = def.version(wf, highest+1, draft, actor, now)
		if err := tx.Create(v).Error; err != nil {
			return nil, err
		}
	}
	return v, s.Record(tx, actor, "api:workflows:update", project.EventSource(), workflowEventAttrs(wf, v))
}

// latestVersion is wf's highest unarchived version (its highest when all are archived).
func latestVersion(tx *gorm.DB, wf *Workflow) (*WorkflowVersion, error) {
	var v WorkflowVersion
	err := TranslateError(workflowVersionsQuery(tx, wf).Where("archived = ?", false).Order("version DESC").Take(&v).Error)
	if ModelNotFound(err) {
		err = workflowVersionsQuery(tx, wf).Order("version DESC").Take(&v).Error
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}
