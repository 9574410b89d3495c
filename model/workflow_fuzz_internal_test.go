package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
)

// FuzzWorkflowDefinition: a workflow's source_yaml and steps are hostile
// input. Building a definition never panics and refuses with a domain error
// (never an internal one); an accepted definition's derived YAML builds the
// same steps again, and so do its steps as JSON, so what is shown can be
// sent back.
func FuzzWorkflowDefinition(f *testing.F) {
	for _, seed := range []string{
		"name: x\nsteps:\n  - target: /projects/p/assets/a\n    action: run\n",
		"name: x\nsteps:\n  - type: wait\n    requires_approval_from: ops\n  - name: s\n    run_as: parallel\n    children:\n      - { targets: [/projects/p/assets/a, /projects/p/assets/b], action: go }\n",
		"name: x\nsteps:\n  - target: /projects/p/workflows/other\n    version: 2\n",
		"name: x\nsteps:\n  - target: /projects/p/assets/{{asset}}\n    action: '{{act}}'\n    start_time: 2030-01-01T00:00:00Z\n",
		"name: x\nsteps:\n\t- bad\n", "name: x\nname: y\nsteps: []\n", "steps: {}\n", "", "[", "name: x\nsteps:\n  - unknown: 1\n",
		"name: x\nsteps: &a\n  - *a\n", "name: x\nsteps:\n  - target: /projects/p/assets/a\n    action: run\n    property_overrides: {a: 1e400}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, source string) {
		d, err := buildDefinition("wf", WorkflowInput{Code: "wf", SourceYAML: &source}, nil)
		if err != nil {
			if k := steward.ErrorKind(err); k == steward.KindInternal {
				t.Fatalf("internal error for %q: %v", source, err)
			}
			return
		}
		again, err := buildDefinition("wf", WorkflowInput{Code: "wf", SourceYAML: &d.yaml}, nil)
		if err != nil {
			t.Fatalf("the derived YAML of %q is refused: %v\n%s", source, err, d.yaml)
		}
		if !sameSteps(d.steps, again.steps) {
			t.Fatalf("the derived YAML of %q builds other steps", source)
		}
		raw, err := json.Marshal(d.steps)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := buildDefinition("wf", WorkflowInput{Code: "wf", Steps: raw, Name: &d.name}, nil)
		if err != nil {
			t.Fatalf("the steps of %q, sent back as JSON, are refused: %v\n%s", source, err, raw)
		}
		if !sameSteps(d.steps, fromJSON.steps) {
			t.Fatalf("the steps of %q, sent back as JSON, build other steps", source)
		}
	})
}

// TestWorkflowYAMLRefusesLaughs: a source_yaml of under a kilobyte whose
// anchors and aliases expand to billions of nodes is refused before it is
// decoded, instead of taking the server's memory.
func TestWorkflowYAMLRefusesLaughs(t *testing.T) {
	y := "name: L\nsteps:\n  - target: /projects/opc/environments/dev/assets/app\n    action: fast\n    property_overrides:\n" +
		"      k0: &a {x1: lol, x2: lol, x3: lol, x4: lol, x5: lol, x6: lol, x7: lol, x8: lol, x9: lol}\n"
	prev := "a"
	for i, l := range "bcdefghi" {
		refs := ""
		for j := 0; j < 9; j++ {
			if j > 0 {
				refs += ", "
			}
			refs += fmt.Sprintf("y%d: *%s", j, prev)
		}
		y += fmt.Sprintf("      k%d: &%c {%s}\n", i+1, l, refs)
		prev = string(l)
	}
	_, err := buildDefinition("lol", WorkflowInput{Code: "lol", SourceYAML: &y}, nil)
	if e := steward.AsError(err); err == nil || e.Code != "yaml_too_large" || e.Field != "source_yaml" {
		t.Fatalf("a billion laughs in source_yaml = %v", err)
	}
}

// TestWorkflowYAMLIsOneDocument: a second YAML document is refused, not
// silently ignored.
func TestWorkflowYAMLIsOneDocument(t *testing.T) {
	y := "name: one\nsteps:\n  - type: wait\n---\nname: two\nsteps:\n  - type: wait\n"
	_, err := buildDefinition("wf", WorkflowInput{Code: "wf", SourceYAML: &y}, nil)
	if e := steward.AsError(err); err == nil || e.Code != "several_documents" {
		t.Fatalf("two documents = %v", err)
	}
	one := "---\nname: one\nsteps:\n  - type: wait\n"
	if _, err := buildDefinition("wf", WorkflowInput{Code: "wf", SourceYAML: &one}, nil); err != nil {
		t.Fatalf("one document with a header: %v", err)
	}
}

// TestWorkflowYAMLTypeErrorsInPlainWords: a value of the wrong type is
// named in the document's terms, not the decoder's Go types.
func TestWorkflowYAMLTypeErrorsInPlainWords(t *testing.T) {
	y := "name: x\nsteps:\n  - target: [1, 2]\n    action: run\n"
	_, err := buildDefinition("wf", WorkflowInput{Code: "wf", SourceYAML: &y}, nil)
	e := steward.AsError(err)
	if err == nil || strings.Contains(e.Detail, "Go ") || strings.Contains(e.Detail, "interface") || !strings.Contains(e.Detail, "line 3") {
		t.Fatalf("a list where text belongs = %v", err)
	}
}

// TestRenamingKeepsTheAuthorsYAML: a new name or description is written
// into the source as its author wrote it, comments and all; the steps are
// untouched.
func TestRenamingKeepsTheAuthorsYAML(t *testing.T) {
	src := "# nightly clean-up, owned by ops\nname: Old\ndescription: first\nsteps:\n  # wait for a human\n  - type: wait\n"
	d, err := buildDefinition("wf", WorkflowInput{Code: "wf", SourceYAML: &src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prev := &WorkflowVersion{Name: d.name, Description: d.description, SourceYAML: d.yaml, Steps: d.steps}
	name, desc := "New: name", "second"
	got, err := buildDefinition("wf", WorkflowInput{Code: "wf", Name: &name, Description: &desc, DescriptionSet: true}, prev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.yaml, "# nightly clean-up, owned by ops") || !strings.Contains(got.yaml, "# wait for a human") {
		t.Errorf("the author's comments are gone:\n%s", got.yaml)
	}
	again, err := parseWorkflowYAML(got.yaml)
	if err != nil || *again.Name != name || *again.Description != desc || !sameSteps(got.steps, d.steps) {
		t.Fatalf("the edited source reads %+v (%v):\n%s", again, err, got.yaml)
	}
}
