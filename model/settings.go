package model

import (
	"encoding/json"
	"fmt"
	"sort"

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
	settingDays // a whole number of days (1 to 36500), or null
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
	"requires_approval_from":    {kind: settingGroup},
	"change_log_retention_days": {kind: settingDays},
	"event_retention_days":      {kind: settingDays},
}

// Retention settings: how long log lines of finished changes and events
// are kept (see the retention job in model/schedule).
const (
	SettingChangeLogRetention = "change_log_retention_days"
	SettingEventRetention     = "event_retention_days"
)

// MaxRetentionDays bounds the retention settings (100 years).
const MaxRetentionDays = 36500

// RetentionDays reads a retention setting from one stored settings
// document: set is false when the document does not have the key; days is
// 0 when it is null (keep for ever, whatever the levels above say).
func RetentionDays(data JSONMap, key string) (days int, set bool) {
	v, ok := data[key]
	if !ok {
		return 0, false
	}
	n, ok := wholeDays(v)
	if !ok {
		return 0, true
	}
	return n, true
}

func wholeDays(v any) (int, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if f != float64(int(f)) || f < 1 || f > MaxRetentionDays {
		return 0, false
	}
	return int(f), true
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

// ValidateSettings checks the value of every known key of a settings
// document; keys it does not know are kept as sent (settings documents are
// free-form: clients keep their own keys there). The error points at the
// first offending key (in sorted order, so it is stable) under
// /data/attributes/data.
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
			continue
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
		case settingDays:
			if v == nil {
				continue
			}
			if _, ok := wholeDays(v); !ok {
				return steward.Invalid(ptr, "invalid_type", "setting %q must be a whole number of days from 1 to %d, or null to keep for ever, not %s",
					name, MaxRetentionDays, describeValue(v))
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

// describeValue names a JSON value's type, or the number itself.
func describeValue(v any) string {
	switch n := v.(type) {
	case float64, json.Number:
		return fmt.Sprint(n)
	}
	return jsonType(v)
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
