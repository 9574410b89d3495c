package model

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	steward "github.com/stewardhq/steward"
)

// Normalising: a definition's steps, as decoded from JSON or YAML, become
// the canonical tree (types inferred, names defaulted, targets fanned out),
// and the change and workflow steps are listed for the database checks.

// placeholder matches a {{property.path}} reference, resolved from the
// run's properties when the step runs.
var placeholder = regexp.MustCompile(`\{\{[^{}]*\}\}`)

// HasPlaceholder reports whether s holds a {{property.path}} placeholder.
func HasPlaceholder(s string) bool { return placeholder.MatchString(s) }

// stepRef is a canonical change or workflow step with the attribute paths
// its errors name: a step fanned out of `targets` names its own target
// entry (steps/1/targets/3), its other fields the step it came from.
type stepRef struct {
	step     *WorkflowStep
	at       string // the input step, e.g. steps/1
	targetAt string
}

// normalised is a definition in canonical form with the steps the save
// checks against the database.
type normalised struct {
	steps     []WorkflowStep
	changes   []stepRef
	workflows []stepRef
	count     int
}

// normaliseSteps checks the steps' shape and infers what is omitted.
func normaliseSteps(in []stepInput) (*normalised, error) {
	if len(in) == 0 {
		return nil, steward.Invalid("steps", "blank", "steps must hold at least one step")
	}
	n := &normalised{}
	steps, err := n.list(in, "steps", 1)
	if err != nil {
		return nil, err
	}
	n.steps = steps
	return n, nil
}

func (n *normalised) list(in []stepInput, at string, depth int) ([]WorkflowStep, error) {
	if depth > MaxWorkflowDepth {
		return nil, steward.Invalid(at, "too_deep", "steps nest more than %d stages deep", MaxWorkflowDepth)
	}
	out := make([]WorkflowStep, len(in))
	for i := range in {
		if err := n.step(&in[i], &out[i], at+"/"+strconv.Itoa(i), depth); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stepKind is what a step is: its type, or a stage.
const stageKind = "stage"

// inferKind follows the reference: a step without `type` is a stage when it
// has children (or run_as without targets), a change when it has target(s)
// and an action, and a workflow step when its target is a workflow path.
// Waits always say `type: wait`.
func inferKind(in *stepInput, at string) (string, error) {
	if in.Type != nil {
		switch *in.Type {
		case WorkflowStepChange, WorkflowStepWait, WorkflowStepWorkflow:
			return *in.Type, nil
		}
		return "", steward.Invalid(at+"/type", "invalid_value",
			"type of step %s must be change, wait or workflow, not %s (a stage has no type: give it run_as and children)", at, steward.Echo(*in.Type))
	}
	switch {
	case in.Children != nil || (in.RunAs != nil && in.Targets == nil):
		return stageKind, nil
	case (in.Target != nil || in.Targets != nil) && in.Action != nil:
		return WorkflowStepChange, nil
	case in.Target != nil && isWorkflowTarget(*in.Target):
		return WorkflowStepWorkflow, nil
	}
	return "", steward.Invalid(at, "unknown_step_type", "cannot tell what step %s is: give type (change, wait or workflow), "+
		"or target and action for a change, a /projects/<p>/workflows/<code> target for a workflow, run_as and children for a stage", at)
}

func isWorkflowTarget(path string) bool { _, _, ok := ParseWorkflowTarget(path); return ok }

// ParseWorkflowTarget splits a workflow step's target,
// /projects/<project>/workflows/<workflow>, into its two codes.
func ParseWorkflowTarget(path string) (projectCode, workflowCode string, ok bool) {
	parts := strings.Split(path, "/")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "projects" || parts[3] != "workflows" ||
		ValidateCode(parts[2]) != nil || ValidateCode(parts[4]) != nil {
		return "", "", false
	}
	return parts[2], parts[4], true
}

// allowedKeys are the keys each kind of step takes; anything else is
// refused, so what is stored matches exactly one of the reference's bodies.
var allowedKeys = map[string][]string{
	WorkflowStepChange:   {"type", "name", "target", "targets", "action", "template_version", "start_time", "property_overrides", "run_as"},
	WorkflowStepWait:     {"type", "name", "requires_approval_from"},
	WorkflowStepWorkflow: {"type", "name", "target", "version", "start_time", "property_overrides"},
	stageKind:            {"name", "run_as", "children"},
}

func (n *normalised) step(in *stepInput, out *WorkflowStep, at string, depth int) error {
	kind, err := inferKind(in, at)
	if err != nil {
		return err
	}
	for _, k := range in.keysOf() {
		if !slices.Contains(allowedKeys[kind], k) || (k == "run_as" && kind == WorkflowStepChange && in.Targets == nil) {
			return steward.Invalid(at+"/"+k, "not_allowed", "%s does not apply to a %s step (step %s)", k, kind, at)
		}
	}
	if in.Name != nil {
		if err := validateStepName(*in.Name, at); err != nil {
			return err
		}
	}
	n.count++
	if n.count > MaxWorkflowSteps {
		return steward.Invalid(at, "too_many_steps", "a workflow holds at most %d steps", MaxWorkflowSteps)
	}
	switch kind {
	case stageKind:
		return n.stage(in, out, at, depth)
	case WorkflowStepWait:
		*out = WorkflowStep{Type: WorkflowStepWait, Name: "Wait"}
		if r := in.RequiresApprovalFrom; r != nil {
			if strings.TrimSpace(*r) == "" {
				return steward.Invalid(at+"/requires_approval_from", "blank", "requires_approval_from of step %s must name a group or users", at)
			}
			out.Name, out.RequiresApprovalFrom = "Approval", r
		}
		if in.Name != nil {
			out.Name = *in.Name
		}
		return nil
	case WorkflowStepWorkflow:
		return n.workflowStep(in, out, at)
	}
	return n.change(in, out, at)
}

func validateStepName(name, at string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return steward.Invalid(at+"/name", "blank", "name of step %s must not be empty", at)
	case len(name) > 200:
		return steward.Invalid(at+"/name", "too_long", "name of step %s must be at most 200 characters", at)
	}
	return nil
}

func validateRunAs(runAs *string, at string) error {
	if runAs == nil || (*runAs != "sequential" && *runAs != "parallel") {
		got := "nothing"
		if runAs != nil {
			got = steward.Echo(*runAs)
		}
		return steward.Invalid(at+"/run_as", "invalid_value", "run_as of step %s must be sequential or parallel, not %s", at, got)
	}
	return nil
}

func (n *normalised) stage(in *stepInput, out *WorkflowStep, at string, depth int) error {
	if in.Name == nil {
		return steward.Invalid(at+"/name", "required", "stage %s needs a name", at)
	}
	if err := validateRunAs(in.RunAs, at); err != nil {
		return err
	}
	if len(in.Children) == 0 {
		return steward.Invalid(at+"/children", "blank", "stage %s needs at least one child step", at)
	}
	children, err := n.list(in.Children, at+"/children", depth+1)
	if err != nil {
		return err
	}
	*out = WorkflowStep{Name: *in.Name, RunAs: *in.RunAs, Children: children}
	return nil
}

func validateStartTime(s *string, at string) error {
	if s == nil {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, *s); err != nil {
		return steward.Invalid(at+"/start_time", "invalid_time", "start_time of step %s must be an RFC 3339 time such as 2025-04-26T06:20:42Z, not %s", at, steward.Echo(*s))
	}
	return nil
}

func (n *normalised) workflowStep(in *stepInput, out *WorkflowStep, at string) error {
	if in.Target == nil {
		return steward.Invalid(at+"/target", "required", "workflow step %s needs a target: /projects/<project>/workflows/<code>", at)
	}
	_, code, ok := ParseWorkflowTarget(*in.Target)
	if !ok {
		return steward.Invalid(at+"/target", "invalid_target", "target of workflow step %s must be /projects/<project>/workflows/<code>, not %s", at, steward.Echo(*in.Target))
	}
	if in.Version != nil && *in.Version < 1 {
		return steward.Invalid(at+"/version", "invalid_value", "version of step %s must be 1 or more", at)
	}
	if err := validateStartTime(in.StartTime, at); err != nil {
		return err
	}
	*out = WorkflowStep{Type: WorkflowStepWorkflow, Name: code, Target: *in.Target, Version: in.Version,
		StartTime: in.StartTime, PropertyOverrides: in.PropertyOverrides}
	if in.Name != nil {
		out.Name = *in.Name
	}
	n.workflows = append(n.workflows, stepRef{step: out, at: at, targetAt: at + "/target"})
	return nil
}

// change checks a change step; a `targets` list becomes a stage of one
// change step per target (run_as given, or parallel), stored that way.
func (n *normalised) change(in *stepInput, out *WorkflowStep, at string) error {
	if in.Action == nil || strings.TrimSpace(*in.Action) == "" {
		return steward.Invalid(at+"/action", "required", "change step %s needs an action", at)
	}
	if in.TemplateVersion != nil && strings.TrimSpace(*in.TemplateVersion) == "" {
		return steward.Invalid(at+"/template_version", "blank", "template_version of step %s must not be empty (leave it out for the asset's own)", at)
	}
	if err := validateStartTime(in.StartTime, at); err != nil {
		return err
	}
	one := func(target string) WorkflowStep {
		return WorkflowStep{Type: WorkflowStepChange, Name: *in.Action, Target: target, Action: *in.Action,
			TemplateVersion: in.TemplateVersion, StartTime: in.StartTime, PropertyOverrides: in.PropertyOverrides}
	}
	switch {
	case in.Target != nil && in.Targets != nil:
		return steward.Invalid(at+"/targets", "not_allowed", "step %s gives both target and targets; give one", at)
	case in.Target != nil:
		if strings.TrimSpace(*in.Target) == "" {
			return steward.Invalid(at+"/target", "blank", "target of step %s must be a node path", at)
		}
		*out = one(*in.Target)
		if in.Name != nil {
			out.Name = *in.Name
		}
		n.changes = append(n.changes, stepRef{step: out, at: at, targetAt: at + "/target"})
		return nil
	case len(in.Targets) == 0:
		return steward.Invalid(at+"/target", "required", "change step %s needs a target (or a non-empty targets list)", at)
	}
	runAs := "parallel"
	if in.RunAs != nil {
		if err := validateRunAs(in.RunAs, at); err != nil {
			return err
		}
		runAs = *in.RunAs
	}
	name := *in.Action
	if in.Name != nil {
		name = *in.Name
	}
	children := make([]WorkflowStep, len(in.Targets))
	for i, target := range in.Targets {
		if strings.TrimSpace(target) == "" {
			return steward.Invalid(fmt.Sprintf("%s/targets/%d", at, i), "blank", "targets of step %s must be node paths", at)
		}
		children[i] = one(target)
		n.changes = append(n.changes, stepRef{step: &children[i], at: at, targetAt: fmt.Sprintf("%s/targets/%d", at, i)})
	}
	n.count += len(children) // the stage was counted; each change is a step too
	if n.count > MaxWorkflowSteps {
		return steward.Invalid(at+"/targets", "too_many_steps", "a workflow holds at most %d steps", MaxWorkflowSteps)
	}
	*out = WorkflowStep{Name: name, RunAs: runAs, Children: children}
	return nil
}
