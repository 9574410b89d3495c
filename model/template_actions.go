package model

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/stewardhq/steward/pkg/yamlguard"
)

// ActionsFile is an actions.yaml: the actions a commit offers (DESIGN.md §4).
// Names keeps the file's order, which is how versions list them.
type ActionsFile struct {
	Actions map[string]ActionDef `yaml:"actions"`
	Names   []string             `yaml:"-"`
}

// ActionDef is one action: a script to run and/or child steps.
type ActionDef struct {
	Description string            `yaml:"description"`
	Run         string            `yaml:"run"`
	Timeout     string            `yaml:"timeout"`
	Env         map[string]string `yaml:"env"`
	RunAs       string            `yaml:"run_as"`
	Steps       []StepRef         `yaml:"steps"`
}

// StepRef is a child step: another action by name, or a wait step.
type StepRef struct {
	Action string
	Wait   *WaitStep
}

// WaitStep pauses a run until someone continues it, or approves it when
// RequiresApprovalFrom names a group.
type WaitStep struct {
	Name                 string `yaml:"name"`
	RequiresApprovalFrom string `yaml:"requires_approval_from"`
}

// UnmarshalYAML reads either `- build` or `- wait: {...}`.
func (s *StepRef) UnmarshalYAML(unmarshal func(any) error) error {
	var name string
	if err := unmarshal(&name); err == nil {
		s.Action = name
		return nil
	}
	var w struct {
		Wait *WaitStep `yaml:"wait"`
	}
	if err := unmarshal(&w); err != nil {
		return err
	}
	if w.Wait == nil {
		return fmt.Errorf("a step is an action name or a wait: {name: ...}")
	}
	s.Wait = w.Wait
	return nil
}

// ParseActionsFile reads data (the file at path, named in errors) strictly:
// unknown fields, unknown child actions and bad run_as values are errors
// that name the file and line.
func ParseActionsFile(path string, data []byte) (_ *ActionsFile, err error) {
	// The YAML library panics on some malformed files (`steps: !!seq`, found
	// by FuzzParseActionsFile): such a file is refused like any broken one.
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%s: the YAML parser failed on this file; check its tags (such as !!seq) and structure", path)
		}
	}()
	if err := yamlguard.Check(data); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var f ActionsFile
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%s: %s", path, yaml.FormatError(err, false, false))
	}
	// A second, order-keeping pass gives the actions in the file's order.
	var ordered struct {
		Actions yaml.MapSlice `yaml:"actions"`
	}
	if err := yaml.UnmarshalWithOptions(data, &ordered, yaml.UseOrderedMap()); err != nil {
		return nil, fmt.Errorf("%s: %s", path, yaml.FormatError(err, false, false))
	}
	for _, item := range ordered.Actions {
		f.Names = append(f.Names, fmt.Sprint(item.Key))
	}
	if len(f.Actions) == 0 {
		return nil, fmt.Errorf("%s: defines no actions (expected a top-level `actions:` map)", path)
	}
	for _, name := range f.Names {
		a := f.Actions[name]
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%s: an action has an empty name", path)
		}
		if a.RunAs != "" && a.RunAs != "sequential" && a.RunAs != "parallel" {
			return nil, fmt.Errorf("%s: action %q: run_as must be sequential or parallel, not %q", path, name, a.RunAs)
		}
		for _, st := range a.Steps {
			if st.Wait == nil {
				if _, ok := f.Actions[st.Action]; !ok {
					return nil, fmt.Errorf("%s: action %q: step %q names no action of this file", path, name, st.Action)
				}
			}
		}
	}
	return &f, nil
}

// List is the actions as a version shows them: name and description, in file order.
func (f *ActionsFile) List() ActionList {
	out := make(ActionList, 0, len(f.Names))
	for _, name := range f.Names {
		out = append(out, Action{Name: name, Description: f.Actions[name].Description})
	}
	return out
}
