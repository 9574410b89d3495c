package model

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/converge"
)

// DefaultSettings is the settings document every node starts with.
func DefaultSettings() JSONMap {
	return JSONMap{
		"allow_parallel": map[string]any{
			"changes":               true,
			"runs_of_same_change":   false,
			"runs_of_same_workflow": false,
		},
	}
}

// Settings is a settings document read with defaults for the keys it lacks.
// A PATCH replaces the stored document as sent (so what a client reads back is
// what it wrote); a missing key means its default, resolved here and nowhere else.
type Settings struct {
	AllowParallelChanges            bool
	AllowParallelRunsOfSameChange   bool
	AllowParallelRunsOfSameWorkflow bool
	RequiresApprovalFrom            *string // group name; nil: no approval needed
}

// settingKind is the JSON type a setting takes.
type settingKind int

const (
	settingBool settingKind = iota
	settingGroup
	settingObject
)

// settingSchema lists every known setting; nested objects list their children.
type settingSchema struct {
	kind     settingKind
	children map[string]settingSchema
}

var settingsSchema = map[string]settingSchema{
	"allow_parallel": {kind: settingObject, children: map[string]settingSchema{
		"changes":               {kind: settingBool},
		"runs_of_same_change":   {kind: settingBool},
		"runs_of_same_workflow": {kind: settingBool},
	}},
	"requires_approval_from": {kind: settingGroup},
}

// ParseSettings reads a stored (already validated) document, filling defaults.
func ParseSettings(data JSONMap) Settings {
	out := Settings{AllowParallelChanges: true}
	if ap, ok := data["allow_parallel"].(map[string]any); ok {
		if v, ok := ap["changes"].(bool); ok {
			out.AllowParallelChanges = v
		}
		if v, ok := ap["runs_of_same_change"].(bool); ok {
			out.AllowParallelRunsOfSameChange = v
		}
		if v, ok := ap["runs_of_same_workflow"].(bool); ok {
			out.AllowParallelRunsOfSameWorkflow = v
		}
	}
	if g, ok := data["requires_approval_from"].(string); ok {
		out.RequiresApprovalFrom = &g
	}
	return out
}

// ValidateSettings checks every key and value of a settings document; the
// error points at the first offending key (in sorted order, so it is stable)
// under /data/attributes/data.
func ValidateSettings(data JSONMap) error {
	return validateSettingsObject(map[string]any(data), settingsSchema, "data", "")
}

func validateSettingsObject(obj map[string]any, schema map[string]settingSchema, pointer, prefix string) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ptr := pointer + "/" + converge.PointerToken(k)
		name := prefix + k
		sch, ok := schema[k]
		if !ok {
			return steward.Invalid(ptr, "unknown_setting", "unknown setting %q; known settings: %s", name, knownSettings(schema, prefix))
		}
		v := obj[k]
		switch sch.kind {
		case settingBool:
			if _, ok := v.(bool); !ok {
				return steward.Invalid(ptr, "invalid_type", "setting %q must be true or false, not %s", name, jsonType(v))
			}
		case settingGroup:
			if v == nil {
				continue
			}
			g, ok := v.(string)
			if !ok {
				return steward.Invalid(ptr, "invalid_type", "setting %q must be a group name or null, not %s", name, jsonType(v))
			}
			if err := ValidName(ptr, g); err != nil {
				return steward.Invalid(ptr, "invalid_name", "setting %q must name a group: %s", name, steward.AsError(err).Detail)
			}
		case settingObject:
			child, ok := v.(map[string]any)
			if !ok {
				return steward.Invalid(ptr, "invalid_type", "setting %q must be an object, not %s", name, jsonType(v))
			}
			if err := validateSettingsObject(child, sch.children, ptr, name+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

func knownSettings(schema map[string]settingSchema, prefix string) string {
	var out []string
	for k, sch := range schema {
		if sch.kind == settingObject {
			out = append(out, knownSettings(sch.children, prefix+k+"."))
			continue
		}
		out = append(out, prefix+k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case float64, int, int64, json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
