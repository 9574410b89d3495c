package run

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// WorkflowRunInput is what a client may add to a run: free-form metadata,
// and property overrides that fill the definition's {{placeholders}} and
// are passed on to the changes the run creates.
type WorkflowRunInput struct {
	Metadata, PropertyOverrides model.JSONMap
	Scheduled                   bool // made by a schedule: never read from a request
}

// CreateWorkflowRun starts a run of version v (published) of workflow wf in
// project: the run and its whole step tree are written in one transaction,
// the version becomes immutable (Ran), and the engine is woken to advance it.
func (s *Store) CreateWorkflowRun(ctx context.Context, actor *model.Actor, project *model.Node, wf *model.Workflow, v *model.WorkflowVersion, in WorkflowRunInput) (*WorkflowRun, []WorkflowRunStep, error) {
	if err := actor.Authorise(authz.Execute, project.Path+"/workflows/"+wf.Code, "node", project.Path+"/workflows/"+wf.Code); err != nil {
		return nil, nil, err
	}
	var (
		run   *WorkflowRun
		steps []WorkflowRunStep
	)
	err := s.Write(ctx, func(tx *gorm.DB) (err error) {
		run, steps, err = s.InsertWorkflowRun(tx, actor, project, wf, v, in, nil)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	s.Wake()
	return run, steps, nil
}

// InsertWorkflowRun writes a run and its step tree in tx (a scheduled firing
// or a parent run's workflow step commits it with its own row); parent is the
// nesting workflow step, or nil. The caller wakes the engine after commit.
func (s *Store) InsertWorkflowRun(tx *gorm.DB, actor *model.Actor, project *model.Node, wf *model.Workflow, v *model.WorkflowVersion, in WorkflowRunInput, parent *WorkflowRunStep) (*WorkflowRun, []WorkflowRunStep, error) {
	if v.Draft {
		return nil, nil, steward.Invalid("workflow_code", "workflow_draft",
			"version %d of workflow %s is a draft; only published versions run", v.Version, wf.Code)
	}
	if wf.Archived || v.Archived {
		return nil, nil, steward.Invalid("workflow_code", "workflow_archived", "workflow %s is archived and cannot run", wf.Code)
	}
	now := s.Now()
	run := &WorkflowRun{ID: model.NewID(), WorkflowID: wf.ID, WorkflowVersionID: v.ID, ProjectID: project.ID,
		Status: StatusPending, Scheduled: in.Scheduled, Metadata: orEmpty(in.Metadata),
		PropertyOverrides: orEmpty(in.PropertyOverrides), CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	if parent != nil {
		run.ParentStepID = &parent.ID
	}
	b := &treeBuilder{run: run, now: now, values: run.PropertyOverrides}
	root := b.add(nil, WorkflowKindNoop, v.Name)
	root.ChildExecutionStrategy = Sequential
	if err := b.addAll(root, v.Steps, "steps"); err != nil {
		return nil, nil, err
	}
	if err := tx.Create(run).Error; err != nil {
		return nil, nil, err
	}
	if err := tx.CreateInBatches(b.steps, 200).Error; err != nil {
		return nil, nil, err
	}
	if !v.Ran {
		if err := tx.Model(&model.WorkflowVersion{}).Where("id = ?", v.ID).Update("ran", true).Error; err != nil {
			return nil, nil, err
		}
		v.Ran = true
	}
	err := s.Record(tx, actor, "api:workflow_runs:create", workflowRunEventSource(run), model.JSONMap{
		"workflow": wf.Code, "version": v.Version, "project": project.Path, "steps": len(b.steps)})
	if err != nil {
		return nil, nil, err
	}
	out := make([]WorkflowRunStep, len(b.steps))
	for i, st := range b.steps {
		out[i] = *st
	}
	return run, out, nil
}

// treeBuilder turns a definition into run steps, depth first, so positions
// order the whole tree as the definition reads.
type treeBuilder struct {
	run    *WorkflowRun
	now    time.Time
	values model.JSONMap
	steps  []*WorkflowRunStep
}

func (b *treeBuilder) add(parent *WorkflowRunStep, kind, name string) *WorkflowRunStep {
	st := &WorkflowRunStep{ID: model.NewID(), RunID: b.run.ID, Position: len(b.steps), Kind: kind, Name: name,
		ChildExecutionStrategy: Sequential, Status: StatusPending, PropertyOverrides: model.JSONMap{},
		CreatedBy: b.run.CreatedBy, CreatedAt: b.now, UpdatedAt: b.now}
	if parent != nil {
		st.ParentID = &parent.ID
	}
	b.steps = append(b.steps, st)
	return st
}

func (b *treeBuilder) addAll(parent *WorkflowRunStep, defs []model.WorkflowStep, field string) error {
	for i := range defs {
		if err := b.addOne(parent, &defs[i], fmt.Sprintf("%s/%d", field, i)); err != nil {
			return err
		}
	}
	return nil
}

func (b *treeBuilder) addOne(parent *WorkflowRunStep, d *model.WorkflowStep, field string) error {
	name, err := b.fill(d.Name, field+"/name")
	if err != nil {
		return err
	}
	switch d.Type {
	case "":
		st := b.add(parent, WorkflowKindNoop, name)
		st.ChildExecutionStrategy = d.RunAs
		if st.ChildExecutionStrategy == "" {
			st.ChildExecutionStrategy = Sequential
		}
		return b.addAll(st, d.Children, field+"/children")
	case model.WorkflowStepWait:
		st := b.add(parent, WorkflowKindWait, name)
		st.RequiresApprovalFrom = d.RequiresApprovalFrom
	case model.WorkflowStepChange, model.WorkflowStepWorkflow:
		kind := WorkflowKindChange
		if d.Type == model.WorkflowStepWorkflow {
			kind = WorkflowKindWorkflow
		}
		st := b.add(parent, kind, name)
		if st.Target, err = b.fill(d.Target, field+"/target"); err != nil {
			return err
		}
		if st.Action, err = b.fill(d.Action, field+"/action"); err != nil {
			return err
		}
		if d.TemplateVersion != nil {
			tv, err := b.fill(*d.TemplateVersion, field+"/template_version")
			if err != nil {
				return err
			}
			st.TemplateVersion = &tv
		}
		st.WorkflowVersion = d.Version
		if d.PropertyOverrides != nil {
			st.PropertyOverrides = d.PropertyOverrides
		}
		if d.StartTime != nil {
			t, err := time.Parse(time.RFC3339Nano, *d.StartTime)
			if err != nil {
				return steward.Invalid(field+"/start_time", "invalid_start_time", "start_time %q is not an RFC 3339 time", *d.StartTime)
			}
			t = t.UTC()
			st.StartTime = &t
		}
	default:
		return steward.Invalid(field+"/type", "invalid_step_type", "step type %q is not change, wait or workflow", d.Type)
	}
	return nil
}

// placeholder is {{a.b.c}}: a dotted path into the run's property overrides.
var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// fill replaces the placeholders in text with the run's property override
// values; a placeholder without a value is a 422 naming it, since a step
// must never run against a half-written target or action.
func (b *treeBuilder) fill(text, field string) (string, error) {
	var missing string
	out := placeholder.ReplaceAllStringFunc(text, func(m string) string {
		path := placeholder.FindStringSubmatch(m)[1]
		v, ok := lookupPath(b.values, path)
		if !ok {
			if missing == "" {
				missing = path
			}
			return m
		}
		return fmt.Sprint(v)
	})
	if missing != "" {
		return "", steward.Invalid("property_overrides", "missing_placeholder_value",
			"the workflow's %s uses {{%s}}, which the run's property_overrides do not set", strings.ReplaceAll(field, "/", "."), missing)
	}
	return out, nil
}

// lookupPath finds a dotted path in nested objects; only scalars fill a
// placeholder.
func lookupPath(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, key := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			if jm, isJM := cur.(model.JSONMap); isJM {
				obj = jm
			} else {
				return nil, false
			}
		}
		if cur, ok = obj[key]; !ok {
			return nil, false
		}
	}
	switch cur.(type) {
	case map[string]any, model.JSONMap, []any, nil:
		return nil, false
	}
	return cur, true
}

func workflowRunEventSource(r *WorkflowRun) *model.EventSource {
	return &model.EventSource{Type: "workflow_run", ID: r.ID, Path: "/workflow_runs/" + r.ID, NodeID: r.ProjectID}
}

func workflowStepEventSource(st *WorkflowRunStep, projectID string) *model.EventSource {
	return &model.EventSource{Type: "workflow_" + st.Kind + "_step", ID: st.ID, Path: "/workflow_steps/" + st.ID, NodeID: projectID}
}

// runProject is the project of workflow run id, for events about its steps.
func runProject(tx *gorm.DB, runID string) (string, error) {
	var id string
	return id, tx.Model(&WorkflowRun{}).Where("id = ?", runID).Select("project_id").Scan(&id).Error
}
