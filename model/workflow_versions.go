package model

import (
	"context"
	"fmt"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
)

// Deleting workflows and versions: what never ran is deleted, what ran is
// archived (its runs keep pointing at it). A version ran when its Ran flag
// says so or when a run (or a nesting run's step) names it: the flag is the
// runs side's to set, the rows are the proof.

// versionsThatRan reports which of versions ran or are named by a
// schedule (both are kept: never edited in place, archived rather than
// deleted), keyed by id.
func versionsThatRan(tx *gorm.DB, versions []WorkflowVersion) (map[string]bool, error) {
	out := map[string]bool{}
	var ids []string
	for _, v := range versions {
		if v.Ran {
			out[v.ID] = true
		}
		ids = append(ids, v.ID)
	}
	err := inChunks(ids, func(chunk []string) error {
		var used []string
		if err := tx.Table("workflow_runs").Where("workflow_version_id IN ?", chunk).Distinct().Pluck("workflow_version_id", &used).Error; err != nil {
			return err
		}
		var nested []string
		if err := tx.Table("workflow_steps").Where("child_workflow_version_id IN ?", chunk).Distinct().Pluck("child_workflow_version_id", &nested).Error; err != nil {
			return err
		}
		// A version a schedule names will run: it is kept like one that ran.
		var scheduled []string
		if err := tx.Table("workflow_versions AS v").Joins("JOIN workflows w ON w.id = v.workflow_id").
			Joins("JOIN scheduled_activities sa ON sa.node_id = w.project_id AND sa.workflow_code = w.code AND sa.workflow_version = v.version").
			Where("v.id IN ?", chunk).Distinct().Pluck("v.id", &scheduled).Error; err != nil {
			return err
		}
		for _, id := range append(append(used, nested...), scheduled...) {
			out[id] = true
		}
		return nil
	})
	return out, err
}

// DeleteWorkflow deletes wf and its versions when none ever ran, else
// archives it (archived reports which). Records api:workflows:delete or :archive.
func (s *Store) DeleteWorkflow(ctx context.Context, actor *Actor, project *Node, wf *Workflow) (archived bool, err error) {
	if err := actor.Authorise(authz.Delete, project.Path+"/workflows/"+wf.Code, "node", project.Path+"/workflows/"+wf.Code); err != nil {
		return false, err
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if by, err := nestedBy(tx, project, wf); err != nil || by != "" {
			if err != nil {
				return err
			}
			return &steward.Error{Kind: steward.KindInvalid, Code: "nested_workflow", Detail: fmt.Sprintf(
				"workflow %s is nested by workflow %s; remove that step (or that workflow) first, or its runs would fail", wf.Code, by)}
		}
		var versions []WorkflowVersion
		if err := workflowVersionsQuery(tx, wf).Select("id", "ran").Find(&versions).Error; err != nil {
			return err
		}
		ran, err := versionsThatRan(tx, versions)
		if err != nil {
			return err
		}
		var runs int64
		if err := tx.Table("workflow_runs").Where("workflow_id = ?", wf.ID).Count(&runs).Error; err != nil {
			return err
		}
		attrs := workflowEventAttrs(wf, nil)
		if len(ran) > 0 || runs > 0 {
			archived = true
			if err := tx.Model(&Workflow{}).Where("id = ?", wf.ID).Updates(map[string]any{"archived": true, "updated_at": s.Now()}).Error; err != nil {
				return err
			}
			return s.Record(tx, actor, "api:workflows:archive", project.EventSource(), attrs)
		}
		if err := tx.Where("workflow_id = ?", wf.ID).Delete(&WorkflowVersion{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", wf.ID).Delete(&Workflow{}).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:workflows:delete", project.EventSource(), attrs)
	})
	return archived, err
}

// nestedBy names another unarchived workflow whose unarchived versions nest
// wf ("" when none): the text match finds candidates, the step tree decides.
func nestedBy(tx *gorm.DB, project *Node, wf *Workflow) (string, error) {
	target := project.Path + "/workflows/" + wf.Code
	var rows []struct {
		Code  string
		Steps WorkflowSteps
	}
	err := tx.Table("workflow_versions AS v").Select("w.code, v.steps").Joins("JOIN workflows w ON w.id = v.workflow_id").
		Where("w.id <> ? AND w.archived = ? AND v.archived = ? AND CAST(v.steps AS TEXT) LIKE ?", wf.ID, false, false,
			"%"+target+`"%`).Scan(&rows).Error
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		if nests(r.Steps, target) {
			return r.Code, nil
		}
	}
	return "", nil
}

func nests(steps []WorkflowStep, target string) bool {
	for i := range steps {
		if (steps[i].Type == WorkflowStepWorkflow && steps[i].Target == target) || nests(steps[i].Children, target) {
			return true
		}
	}
	return false
}

// DeleteDraftVersions deletes every draft of wf (archiving a draft that
// ran). Refused when no published version would remain: a workflow always
// keeps something to show and to run.
func (s *Store) DeleteDraftVersions(ctx context.Context, actor *Actor, project *Node, wf *Workflow) error {
	if err := actor.Authorise(authz.Delete, project.Path+"/workflows/"+wf.Code, "node", project.Path+"/workflows/"+wf.Code); err != nil {
		return err
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		var versions []WorkflowVersion
		if err := workflowVersionsQuery(tx, wf).Where("archived = ?", false).Order("version").Find(&versions).Error; err != nil {
			return err
		}
		var drafts []WorkflowVersion
		published := 0
		for _, v := range versions {
			if v.Draft {
				drafts = append(drafts, v)
			} else {
				published++
			}
		}
		if published == 0 {
			return &steward.Error{Kind: steward.KindInvalid, Code: "no_published_version",
				Detail: fmt.Sprintf("workflow %q has no published version, so deleting its drafts would leave nothing; delete the workflow instead", wf.Code)}
		}
		ran, err := versionsThatRan(tx, drafts)
		if err != nil {
			return err
		}
		for i := range drafts {
			if err := s.removeVersion(tx, actor, project, wf, &drafts[i], ran[drafts[i].ID]); err != nil {
				return err
			}
		}
		return touchWorkflow(tx, wf, s.Now())
	})
}

// DeleteWorkflowVersion deletes version v of wf, or archives it when it
// ran. The workflow's last unarchived version stays: delete the workflow instead.
func (s *Store) DeleteWorkflowVersion(ctx context.Context, actor *Actor, project *Node, wf *Workflow, v *WorkflowVersion) error {
	if err := actor.Authorise(authz.Delete, project.Path+"/workflows/"+wf.Code, "node", project.Path+"/workflows/"+wf.Code); err != nil {
		return err
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		var cur WorkflowVersion
		if err := tx.Where("id = ?", v.ID).Take(&cur).Error; err != nil {
			return err
		}
		if cur.Archived {
			return &steward.Error{Kind: steward.KindInvalid, Code: "archived_version",
				Detail: fmt.Sprintf("version %d of workflow %q is already archived", cur.Version, wf.Code)}
		}
		var others int64
		if err := workflowVersionsQuery(tx, wf).Where("archived = ? AND id <> ?", false, cur.ID).Count(&others).Error; err != nil {
			return err
		}
		if others == 0 {
			return &steward.Error{Kind: steward.KindInvalid, Code: "last_version",
				Detail: fmt.Sprintf("version %d is the only version of workflow %q; delete the workflow instead", cur.Version, wf.Code)}
		}
		ran, err := versionsThatRan(tx, []WorkflowVersion{cur})
		if err != nil {
			return err
		}
		if err := s.removeVersion(tx, actor, project, wf, &cur, ran[cur.ID]); err != nil {
			return err
		}
		return touchWorkflow(tx, wf, s.Now())
	})
}

// removeVersion deletes v, or archives it when it ran, with its event.
func (s *Store) removeVersion(tx *gorm.DB, actor *Actor, project *Node, wf *Workflow, v *WorkflowVersion, ran bool) error {
	attrs := workflowEventAttrs(wf, v)
	if ran {
		if err := tx.Model(&WorkflowVersion{}).Where("id = ?", v.ID).Updates(map[string]any{"archived": true, "updated_at": s.Now()}).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:workflow_versions:archive", project.EventSource(), attrs)
	}
	if err := tx.Where("id = ?", v.ID).Delete(&WorkflowVersion{}).Error; err != nil {
		return err
	}
	return s.Record(tx, actor, "api:workflow_versions:delete", project.EventSource(), attrs)
}

func touchWorkflow(tx *gorm.DB, wf *Workflow, now time.Time) error {
	return tx.Model(&Workflow{}).Where("id = ?", wf.ID).Update("updated_at", now).Error
}

// RunnableWorkflowVersion is what a run of the project's workflow code
// runs: version, or the latest published one when nil. A missing workflow
// or version is a 404; an archived workflow or version, a draft, or a
// workflow with no published version is a 422 saying so.
func (s *Store) RunnableWorkflowVersion(ctx context.Context, project *Node, code string, version *int) (*Workflow, *WorkflowVersion, error) {
	if project.Kind != KindProject || ValidateCode(code) != nil {
		return nil, nil, steward.NotFound("workflow", code)
	}
	var wf *Workflow
	var v *WorkflowVersion
	err := s.Read(ctx, func(db *gorm.DB) error {
		var err error
		_, wf, v, err = RunnableVersionIn(db, project.Code, code, version)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return wf, v, nil
}
