package model

import (
	"bytes"
	"encoding/json"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
)

// definition is a workflow version's content, parsed and normalised, ready
// for the save's database checks.
type definition struct {
	name        string
	description *string
	steps       []WorkflowStep
	yaml        string
	fromYAML    bool // errors of the checks point into source_yaml
	n           *normalised
}

// buildDefinition reads the definition in gives, filling what it leaves
// out from the YAML document, then from prev (the latest version; nil on
// create). Given both steps and source_yaml, they must describe the same
// steps. Only shape is checked here; check reads the database.
func buildDefinition(code string, in WorkflowInput, prev *WorkflowVersion) (*definition, error) {
	d := &definition{}
	if prev != nil {
		d.name, d.description = prev.Name, prev.Description
	}
	var fromJSON *normalised
	if in.Steps != nil {
		inputs, err := decodeJSONSteps(in.Steps)
		if err != nil {
			return nil, err
		}
		if fromJSON, err = normaliseSteps(inputs); err != nil {
			return nil, err
		}
		d.n = fromJSON
	}
	if in.SourceYAML != nil {
		src, err := parseWorkflowYAML(*in.SourceYAML)
		if err != nil {
			return nil, err
		}
		if src.Code != nil && *src.Code != code {
			return nil, steward.Invalid(fieldSourceYAML, "code_mismatch", "source_yaml names code %s but the workflow's code is %q", steward.Echo(*src.Code), code)
		}
		n, err := normaliseSteps(src.Steps)
		if err != nil {
			return nil, atYAML(err, *in.SourceYAML)
		}
		if fromJSON != nil && !sameSteps(fromJSON.steps, n.steps) {
			return nil, steward.Invalid("steps", "mismatch", "steps and source_yaml describe different steps; give one of them")
		}
		if src.Name != nil {
			d.name = *src.Name
		}
		if src.Description != nil {
			d.description = src.Description
		}
		d.n, d.yaml, d.fromYAML = n, *in.SourceYAML, true
	}
	carried := d.n == nil
	if carried {
		if prev == nil {
			return nil, steward.Invalid("steps", "required", "give the workflow's steps, as steps or as source_yaml")
		}
		// Carried over, the previous steps are checked again: what they
		// target may have gone since they were saved.
		raw, err := json.Marshal(prev.Steps)
		if err != nil {
			return nil, err
		}
		inputs, err := decodeJSONSteps(raw)
		if err == nil {
			d.n, err = normaliseSteps(inputs)
		}
		if err != nil {
			return nil, err
		}
	}
	if in.Name != nil {
		d.name = *in.Name
	}
	if in.DescriptionSet {
		d.description = in.Description
	}
	if in.Name == nil && d.name == "" {
		return nil, steward.Invalid("name", "required", "name is required")
	}
	if err := steward.First(validateName(d.name), validateDescription(d.description)); err != nil {
		return nil, err
	}
	d.steps = d.n.steps
	if carried && d.name == prev.Name && sameDescription(d.description, prev.Description) {
		// Publishing or re-saving keeps the source as its author wrote it.
		d.yaml = prev.SourceYAML
	} else if y, ok := editYAMLHeader(prev, carried, d.name, d.description); ok {
		// A new name or description is written into the author's source.
		d.yaml = y
	} else if !d.fromYAML {
		y, err := deriveWorkflowYAML(code, d.name, d.description, d.steps)
		if err != nil {
			return nil, err
		}
		d.yaml = y
	}
	return d, nil
}

func sameDescription(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func sameSteps(a, b []WorkflowStep) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// check runs the save's database checks for the workflow projectCode/code.
func (d *definition) check(tx *gorm.DB, projectCode, code string) error {
	err := checkChangeSteps(tx, d.n.changes)
	if err == nil {
		err = checkWorkflowSteps(tx, workflowKey(projectCode, code), d.n.workflows)
	}
	if err != nil && d.fromYAML {
		return atYAML(err, d.yaml)
	}
	return err
}

// version is the definition as version number of wf.
func (d *definition) version(wf *Workflow, number int, draft bool, actor *Actor, now time.Time) *WorkflowVersion {
	return &WorkflowVersion{ID: NewID(), WorkflowID: wf.ID, Version: number, Name: d.name, Description: d.description,
		Draft: draft, SourceYAML: d.yaml, Steps: d.steps, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
}
