package model

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	steward "github.com/stewardhq/steward"
)

// Workflow definitions arrive as JSON `steps` or as `source_yaml`. Both are
// decoded into stepInput (what a client may write, with the type optional),
// then normalised into the canonical WorkflowStep tree that is stored,
// shown and run. Every error names the attribute path of the step at fault
// (steps/2/children/0/action); the JSON:API layer turns it into a pointer.

// Bounds on one definition: the reference has none, but a definition is
// read whole on every show and every run.
const (
	MaxWorkflowSteps = 10000
	MaxWorkflowDepth = 32
)

// stepInput is one step as a client writes it. Pointers tell absent from
// given; Targets and Children are non-nil when given.
type stepInput struct {
	Type                 *string        `yaml:"type"`
	Name                 *string        `yaml:"name"`
	Target               *string        `yaml:"target"`
	Targets              []string       `yaml:"targets"`
	Action               *string        `yaml:"action"`
	TemplateVersion      *string        `yaml:"template_version"`
	StartTime            *string        `yaml:"start_time"`
	PropertyOverrides    map[string]any `yaml:"property_overrides"`
	RequiresApprovalFrom *string        `yaml:"requires_approval_from"`
	Version              *int           `yaml:"version"`
	RunAs                *string        `yaml:"run_as"`
	Children             []stepInput    `yaml:"children"`
}

// stepKeys are the keys a step may carry, in the order errors list them.
var stepKeys = []string{"type", "name", "target", "targets", "action", "template_version", "start_time",
	"property_overrides", "requires_approval_from", "version", "run_as", "children"}

// keysOf lists the keys in is given (non-null).
func (in *stepInput) keysOf() []string {
	given := []bool{in.Type != nil, in.Name != nil, in.Target != nil, in.Targets != nil, in.Action != nil,
		in.TemplateVersion != nil, in.StartTime != nil, in.PropertyOverrides != nil, in.RequiresApprovalFrom != nil,
		in.Version != nil, in.RunAs != nil, in.Children != nil}
	var out []string
	for i, ok := range given {
		if ok {
			out = append(out, stepKeys[i])
		}
	}
	return out
}

// decodeJSONSteps reads the `steps` attribute strictly: every step an
// object of known keys with values of the right type.
func decodeJSONSteps(raw json.RawMessage) ([]stepInput, error) {
	return decodeJSONStepList(raw, "steps")
}

func decodeJSONStepList(raw json.RawMessage, at string) ([]stepInput, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, steward.Invalid(at, "invalid_type", "%s must be an array of steps", at)
	}
	out := make([]stepInput, len(items))
	for i, item := range items {
		if err := decodeJSONStep(item, &out[i], at+"/"+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeJSONStep(raw json.RawMessage, in *stepInput, at string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return steward.Invalid(at, "invalid_type", "step %s must be an object", at)
	}
	for k := range fields {
		if !slices.Contains(stepKeys, k) {
			// The key is a segment of the attribute path: escaped as in a JSON pointer.
			return steward.Invalid(at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), "unknown_key", "step %s has an unknown key %s; a step may have %s",
				at, steward.Echo(k), strings.Join(stepKeys, ", "))
		}
	}
	for _, k := range stepKeys {
		v, ok := fields[k]
		if !ok || string(bytes.TrimSpace(v)) == "null" {
			continue
		}
		var err error
		switch k {
		case "type":
			err = json.Unmarshal(v, &in.Type)
		case "name":
			err = json.Unmarshal(v, &in.Name)
		case "target":
			err = json.Unmarshal(v, &in.Target)
		case "targets":
			in.Targets = []string{}
			err = json.Unmarshal(v, &in.Targets)
		case "action":
			err = json.Unmarshal(v, &in.Action)
		case "template_version":
			err = json.Unmarshal(v, &in.TemplateVersion)
		case "start_time":
			err = json.Unmarshal(v, &in.StartTime)
		case "property_overrides":
			var m JSONMap
			if m, err = DecodeJSONObject(v); err == nil {
				in.PropertyOverrides = m
			}
		case "requires_approval_from":
			err = json.Unmarshal(v, &in.RequiresApprovalFrom)
		case "version":
			err = json.Unmarshal(v, &in.Version)
		case "run_as":
			err = json.Unmarshal(v, &in.RunAs)
		case "children":
			// Children errors carry their own paths.
			if in.Children, err = decodeJSONStepList(v, at+"/children"); err != nil {
				return err
			}
		}
		if err != nil {
			return steward.Invalid(at+"/"+k, "invalid_type", "%s of step %s must be %s", k, at, keyShape(k))
		}
	}
	return nil
}

func keyShape(k string) string {
	switch k {
	case "targets":
		return "an array of node paths"
	case "property_overrides":
		return "an object"
	case "version":
		return "an integer"
	case "children":
		return "an array of steps"
	}
	return "a string"
}
