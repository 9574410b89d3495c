package model

import (
	"fmt"
	"strings"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
)

// Workflow steps nest other workflows: /projects/<p>/workflows/<code>, at a
// version or the latest published one. A save refuses a target that does not
// run (missing, archived, no such published version) and any nesting that
// leads back to the workflow being saved, at any depth and across projects.

// RunnableVersionIn finds, through db, the workflow at projectCode/code and the version a
// run of it runs: version, or the latest published one when nil. Errors name
// no attribute; callers place them.
func RunnableVersionIn(db *gorm.DB, projectCode, code string, version *int) (*Node, *Workflow, *WorkflowVersion, error) {
	var project Node
	err := TranslateError(db.Where("path = ? AND kind = ?", NodePath(projectCode, "", ""), KindProject).Take(&project).Error)
	if ModelNotFound(err) {
		return nil, nil, nil, steward.NotFound("project", projectCode)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	var wf Workflow
	err = TranslateError(db.Where("project_id = ? AND code = ?", project.ID, code).Take(&wf).Error)
	if ModelNotFound(err) {
		return nil, nil, nil, steward.NotFound("workflow", "/projects/"+projectCode+"/workflows/"+code)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	name := fmt.Sprintf("workflow /projects/%s/workflows/%s", projectCode, code)
	if wf.Archived {
		return nil, nil, nil, &steward.Error{Kind: steward.KindInvalid, Code: "archived_workflow", Detail: name + " is archived and does not run"}
	}
	var v WorkflowVersion
	q := db.Where("workflow_id = ?", wf.ID)
	if version == nil {
		err = TranslateError(q.Where("draft = ? AND archived = ?", false, false).Order("version DESC").Take(&v).Error)
		if ModelNotFound(err) {
			return nil, nil, nil, &steward.Error{Kind: steward.KindInvalid, Code: "no_published_version",
				Detail: name + " has no published version; only published versions run (publish one with draft: false)"}
		}
	} else {
		err = TranslateError(q.Where("version = ?", *version).Take(&v).Error)
		if ModelNotFound(err) {
			return nil, nil, nil, steward.NotFound(name+" version", fmt.Sprint(*version))
		}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	switch {
	case v.Archived:
		return nil, nil, nil, &steward.Error{Kind: steward.KindInvalid, Code: "archived_version",
			Detail: fmt.Sprintf("%s version %d is archived and does not run", name, v.Version)}
	case v.Draft:
		return nil, nil, nil, &steward.Error{Kind: steward.KindInvalid, Code: "draft_version",
			Detail: fmt.Sprintf("%s version %d is a draft; only published versions run", name, v.Version)}
	}
	return &project, &wf, &v, nil
}

// nestingWalker walks what workflow steps run, looking for self. Versions
// known not to lead back are not walked twice, so the walk reads each
// reachable version once.
type nestingWalker struct {
	tx      *gorm.DB
	self    string          // project/code of the workflow being saved
	cleared map[string]bool // version ids that do not lead to self, or are being walked
}

func workflowKey(projectCode, code string) string { return projectCode + "/" + code }

// checkWorkflowSteps checks every workflow step of a definition of
// self (project/code) and refuses cycles.
func checkWorkflowSteps(tx *gorm.DB, self string, refs []stepRef) error {
	w := &nestingWalker{tx: tx, self: self, cleared: map[string]bool{}}
	for _, r := range refs {
		p, c, _ := ParseWorkflowTarget(r.step.Target)
		key := workflowKey(p, c)
		if key == w.self {
			return steward.Invalid(r.targetAt, "workflow_cycle", "step %s runs this workflow itself (%s); a workflow may not nest itself", r.at, r.step.Target)
		}
		_, _, v, err := RunnableVersionIn(tx, p, c, r.step.Version)
		if err != nil {
			e := steward.AsError(err)
			if e.Kind != steward.KindInvalid && e.Kind != steward.KindNotFound {
				return err
			}
			field, code := r.targetAt, e.Code
			if e.Kind == steward.KindNotFound {
				code = "unknown_workflow"
				if r.step.Version != nil && strings.Contains(e.Detail, "version") {
					field, code = r.at+"/version", "unknown_workflow_version"
				}
			}
			return &steward.Error{Kind: steward.KindInvalid, Code: code, Field: field, Detail: fmt.Sprintf("step %s: %s", r.at, e.Detail)}
		}
		chain, err := w.reaches(v, []string{key})
		if err != nil {
			return err
		}
		if chain != nil {
			return steward.Invalid(r.targetAt, "workflow_cycle", "step %s: running %s leads back to this workflow (%s → %s); "+
				"a workflow may not nest itself at any depth", r.at, key, w.self, strings.Join(chain, " → "))
		}
	}
	return nil
}

// reaches returns the chain of workflows from v back to self, or nil.
// A nested target that does not run is not followed: it was checked when
// its own workflow was saved, and runs check again.
func (w *nestingWalker) reaches(v *WorkflowVersion, trail []string) ([]string, error) {
	if w.cleared[v.ID] {
		return nil, nil
	}
	w.cleared[v.ID] = true // also stops a walk through an older cycle
	var found []string
	var walk func(steps []WorkflowStep) error
	walk = func(steps []WorkflowStep) error {
		for i := range steps {
			if found != nil {
				return nil
			}
			s := &steps[i]
			if s.IsStage() {
				if err := walk(s.Children); err != nil {
					return err
				}
				continue
			}
			if s.Type != WorkflowStepWorkflow {
				continue
			}
			p, c, ok := ParseWorkflowTarget(s.Target)
			if !ok {
				continue
			}
			key := workflowKey(p, c)
			if key == w.self {
				found = append(append([]string{}, trail...), key)
				return nil
			}
			_, _, next, err := RunnableVersionIn(w.tx, p, c, s.Version)
			if err != nil {
				if k := steward.AsError(err).Kind; k == steward.KindInvalid || k == steward.KindNotFound {
					continue
				}
				return err
			}
			chain, err := w.reaches(next, append(append([]string{}, trail...), key))
			if err != nil {
				return err
			}
			found = chain
		}
		return nil
	}
	if err := walk(v.Steps); err != nil {
		return nil, err
	}
	return found, nil
}
