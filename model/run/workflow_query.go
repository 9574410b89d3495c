package run

import (
	"context"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/listquery"
)

// WorkflowRunFilters are the attributes a run list may filter and sort by.
var WorkflowRunFilters = map[string]listquery.Field{
	"id":          {Column: "id", Kind: listquery.UUID},
	"status_code": {Column: "status"},
	"created_by":  {Column: "created_by"},
	"scheduled":   {Column: "scheduled", Kind: listquery.Bool},
	"created_at":  {Column: "created_at", Kind: listquery.Time},
	"started_at":  {Column: "started_at", Kind: listquery.Time, Nullable: true},
	"finished_at": {Column: "finished_at", Kind: listquery.Time, Nullable: true},
	"updated_at":  {Column: "updated_at", Kind: listquery.Time},
}

// WorkflowStepFilters are the attributes a workflow step list may filter
// and sort by.
var WorkflowStepFilters = map[string]listquery.Field{
	"id":            {Column: "id", Kind: listquery.UUID},
	"name":          {Column: "name"},
	"status_code":   {Column: "status"},
	"skip_on_retry": {Column: "skip_on_retry", Kind: listquery.Bool},
	"created_at":    {Column: "created_at", Kind: listquery.Time},
	"started_at":    {Column: "started_at", Kind: listquery.Time, Nullable: true},
	"finished_at":   {Column: "finished_at", Kind: listquery.Time, Nullable: true},
	"updated_at":    {Column: "updated_at", Kind: listquery.Time},
}

// WorkflowRunList lists runs: of one workflow when wf is set, else of one
// project when project is set, else every run.
func (s *Store) WorkflowRunList(project *model.Node, wf *model.Workflow) model.Source[WorkflowRun] {
	return model.NewSource[WorkflowRun](s.Store, "id", func(db *gorm.DB) *gorm.DB {
		q := db.Model(&WorkflowRun{})
		switch {
		case wf != nil:
			q = q.Where("workflow_id = ?", wf.ID)
		case project != nil:
			q = q.Where("project_id = ?", project.ID)
		}
		return q
	}).Scoped(s.readableRuns)
}

// WorkflowStepList lists workflow steps: of one run when runID is set.
func (s *Store) WorkflowStepList(runID string) model.Source[WorkflowRunStep] {
	return model.NewSource[WorkflowRunStep](s.Store, "id", func(db *gorm.DB) *gorm.DB {
		q := db.Model(&WorkflowRunStep{})
		if runID != "" {
			q = q.Where("run_id = ?", runID)
		}
		return q
	}).Scoped(s.readableWorkflowSteps)
}

// GetWorkflowRun loads run id, of workflow wf when wf is set; 404 when
// missing.
func (s *Store) GetWorkflowRun(ctx context.Context, id string, wf *model.Workflow) (*WorkflowRun, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("workflow_run", id)
	}
	var r WorkflowRun
	err := s.Read(ctx, func(db *gorm.DB) error {
		q := s.readableRuns(ctx, db.Model(&WorkflowRun{})).Where("id = ?", id)
		if wf != nil {
			q = q.Where("workflow_id = ?", wf.ID)
		}
		return q.Take(&r).Error
	})
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("workflow_run", id)
	}
	return &r, err
}

// GetWorkflowStep loads workflow step id; 404 when missing.
func (s *Store) GetWorkflowStep(ctx context.Context, id string) (*WorkflowRunStep, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("workflow_step", id)
	}
	var st WorkflowRunStep
	err := s.Read(ctx, func(db *gorm.DB) error {
		return s.readableWorkflowSteps(ctx, db.Model(&WorkflowRunStep{})).Where("id = ?", id).Take(&st).Error
	})
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("workflow_step", id)
	}
	return &st, err
}

// WorkflowRunView is what a run document shows besides the run rows, read
// from one snapshot.
type WorkflowRunView struct {
	Steps     map[string][]WorkflowRunStep      // run id -> its steps, in tree order
	Workflows map[string]*model.Workflow        // workflow id -> workflow
	Versions  map[string]*model.WorkflowVersion // version id -> version
	Projects  map[string]*model.Node            // project id -> project
	Blockers  map[string][]string               // run id -> the runs it queues behind
}

// ViewWorkflowRuns reads the view of runs.
func (s *Store) ViewWorkflowRuns(ctx context.Context, runs []*WorkflowRun) (*WorkflowRunView, error) {
	v := &WorkflowRunView{Steps: map[string][]WorkflowRunStep{}, Workflows: map[string]*model.Workflow{},
		Versions: map[string]*model.WorkflowVersion{}, Projects: map[string]*model.Node{}, Blockers: map[string][]string{}}
	if len(runs) == 0 {
		return v, nil
	}
	var runIDs, wfIDs, versionIDs, projectIDs []string
	for _, r := range runs {
		runIDs = append(runIDs, r.ID)
		wfIDs = append(wfIDs, r.WorkflowID)
		versionIDs = append(versionIDs, r.WorkflowVersionID)
		projectIDs = append(projectIDs, r.ProjectID)
	}
	err := s.Snapshot(ctx, func(s *Store) error {
		return s.Read(ctx, func(db *gorm.DB) error {
			var steps []WorkflowRunStep
			if err := db.Where("run_id IN ?", runIDs).Order("position, id").Find(&steps).Error; err != nil {
				return err
			}
			for _, st := range steps {
				v.Steps[st.RunID] = append(v.Steps[st.RunID], st)
			}
			var wfs []model.Workflow
			if err := db.Where("id IN ?", model.Dedupe(wfIDs)).Find(&wfs).Error; err != nil {
				return err
			}
			for i := range wfs {
				v.Workflows[wfs[i].ID] = &wfs[i]
			}
			var versions []model.WorkflowVersion
			if err := db.Where("id IN ?", model.Dedupe(versionIDs)).Find(&versions).Error; err != nil {
				return err
			}
			for i := range versions {
				v.Versions[versions[i].ID] = &versions[i]
			}
			var projects []model.Node
			if err := db.Where("id IN ?", model.Dedupe(projectIDs)).Find(&projects).Error; err != nil {
				return err
			}
			for i := range projects {
				v.Projects[projects[i].ID] = &projects[i]
			}
			for _, r := range runs {
				if r.Status == StatusPending || r.Status == StatusQueued {
					ids, err := s.workflowRunBlockers(db, r)
					if err != nil {
						return err
					}
					v.Blockers[r.ID] = ids
				}
			}
			return nil
		})
	})
	return v, err
}

// WorkflowStepView is what a workflow step document shows besides the step
// rows: their runs and each run's workflow, to build links.
type WorkflowStepView struct {
	Runs      map[string]*WorkflowRun
	Workflows map[string]*model.Workflow
	Projects  map[string]*model.Node
	Children  map[string][]WorkflowRunStep // step id -> its children
}

// ViewWorkflowSteps reads the view of steps.
func (s *Store) ViewWorkflowSteps(ctx context.Context, steps []*WorkflowRunStep) (*WorkflowStepView, error) {
	v := &WorkflowStepView{Runs: map[string]*WorkflowRun{}, Workflows: map[string]*model.Workflow{},
		Projects: map[string]*model.Node{}, Children: map[string][]WorkflowRunStep{}}
	if len(steps) == 0 {
		return v, nil
	}
	var runIDs, stepIDs []string
	for _, st := range steps {
		runIDs = append(runIDs, st.RunID)
		stepIDs = append(stepIDs, st.ID)
	}
	err := s.Snapshot(ctx, func(s *Store) error {
		return s.Read(ctx, func(db *gorm.DB) error {
			var runs []WorkflowRun
			if err := db.Where("id IN ?", model.Dedupe(runIDs)).Find(&runs).Error; err != nil {
				return err
			}
			var wfIDs, projectIDs []string
			for i := range runs {
				v.Runs[runs[i].ID] = &runs[i]
				wfIDs = append(wfIDs, runs[i].WorkflowID)
				projectIDs = append(projectIDs, runs[i].ProjectID)
			}
			var wfs []model.Workflow
			if err := db.Where("id IN ?", model.Dedupe(wfIDs)).Find(&wfs).Error; err != nil {
				return err
			}
			for i := range wfs {
				v.Workflows[wfs[i].ID] = &wfs[i]
			}
			var projects []model.Node
			if err := db.Where("id IN ?", model.Dedupe(projectIDs)).Find(&projects).Error; err != nil {
				return err
			}
			for i := range projects {
				v.Projects[projects[i].ID] = &projects[i]
			}
			var kids []WorkflowRunStep
			if err := db.Where("parent_id IN ?", stepIDs).Order("position, id").Find(&kids).Error; err != nil {
				return err
			}
			for _, k := range kids {
				v.Children[*k.ParentID] = append(v.Children[*k.ParentID], k)
			}
			return nil
		})
	})
	return v, err
}
