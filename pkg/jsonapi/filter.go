package jsonapi

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// MaxListValues bounds the values of one _in/_not_in filter.
const MaxListValues = 1000

// predicates, longest first so "not_eq" wins over "eq".
var predicates = []string{"not_cont", "not_null", "not_eq", "not_in", "start", "false", "lteq", "gteq", "cont", "null", "true", "end", "eq", "lt", "gt", "in"}

// parseFilter reads one filter parameter. bracketed is the filter[x_in][]=
// form, whose values are taken whole; filter[x_in]=a,b splits on commas.
func (q *Query) parseFilter(param, name string, bracketed bool, vals []string, spec *Spec) error {
	switch name {
	case "m":
		switch strings.ToLower(vals[len(vals)-1]) {
		case "or":
			q.Or = true
		case "and":
		default:
			return steward.BadParameter(param, "filter[m] must be and or or")
		}
		return nil
	case "sorts", "s":
		var items []string
		for _, v := range vals {
			items = append(items, splitList(v)...)
		}
		return q.parseSort(param, items, spec)
	}
	for _, pred := range predicates {
		attr, ok := strings.CutSuffix(name, "_"+pred)
		if !ok {
			continue
		}
		f, known := spec.Filters[attr]
		if !known {
			continue
		}
		if !predicateApplies(f.Kind, pred) {
			return &steward.Error{Kind: steward.KindBadRequest, Code: "unsupported_filter", Parameter: param,
				Detail: fmt.Sprintf("predicate %q does not apply to %s attribute %q", pred, kindNames[f.Kind], attr)}
		}
		c := listquery.Condition{Field: f, Predicate: pred, Param: param}
		multi := pred == "in" || pred == "not_in"
		raw := vals
		if !multi {
			raw = vals[len(vals)-1:]
		} else if !bracketed && len(vals) == 1 && strings.Contains(vals[0], ",") {
			raw = splitList(vals[0])
		}
		if len(raw) == 0 {
			return steward.BadParameter(param, "lists no values")
		}
		if len(raw) > MaxListValues {
			// Both databases cap bound parameters per statement.
			return steward.BadParameter(param, "at most %d values may be listed", MaxListValues)
		}
		for _, v := range raw {
			parsed, err := parseValue(f.Kind, pred, v)
			if err != nil {
				return steward.BadParameter(param, "%s", err.Error())
			}
			c.Values = append(c.Values, parsed)
		}
		q.Filters = append(q.Filters, c)
		return nil
	}
	return &steward.Error{Kind: steward.KindBadRequest, Code: "unsupported_filter", Parameter: param,
		Detail: fmt.Sprintf("cannot filter by %s; filterable attributes: %s; predicates: %s",
			steward.Echo(name), strings.Join(spec.names(), ", "), strings.Join(predicates, ", "))}
}

var kindNames = map[listquery.FieldKind]string{listquery.String: "text", listquery.Bool: "boolean", listquery.Time: "time", listquery.Int: "integer", listquery.UUID: "id"}

// predicateApplies keeps predicates to the column types both databases can
// evaluate them on (PostgreSQL has no LIKE on booleans, no text = boolean).
func predicateApplies(kind listquery.FieldKind, pred string) bool {
	switch pred {
	case "true", "false":
		return kind == listquery.Bool
	case "cont", "not_cont", "start", "end":
		return kind == listquery.String || kind == listquery.UUID
	case "lt", "lteq", "gt", "gteq":
		return kind != listquery.Bool
	}
	return true
}

func parseValue(kind listquery.FieldKind, pred, v string) (any, error) {
	switch pred {
	case "null", "not_null", "true", "false":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("value %s must be true or false", steward.Echo(v))
		}
		return b, nil
	case "cont", "not_cont", "start", "end":
		return v, nil
	}
	switch kind {
	case listquery.UUID:
		id, err := uuid.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("value %s must be an id (a UUID)", steward.Echo(v))
		}
		return id.String(), nil
	case listquery.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("value %s must be true or false", steward.Echo(v))
		}
		return b, nil
	case listquery.Int:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("value %s must be a whole number", steward.Echo(v))
		}
		return n, nil
	case listquery.Time:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, fmt.Errorf("value %s must be an RFC 3339 time such as 2025-04-25T06:21:23Z", steward.Echo(v))
	}
	return v, nil
}

// likeEscape escapes LIKE wildcards so a value matches literally.
// EncodeCursor makes the opaque page[after] value for the last row's id.
func EncodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// decodeCursor returns the id a cursor carries: a UUID string, or an int64
// for lists keyed by an integer identity (log lines).
func decodeCursor(c string) (any, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", err
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	id, err := uuid.Parse(string(b))
	if err != nil {
		return "", err
	}
	// Canonical, so that both databases compare it as the same id.
	return id.String(), nil
}

// isCursor accepts only cursors of the list's keyset kind, so a number never
// reaches a uuid column (nor a UUID an integer one).
func isCursor(c string, intKeyset bool) bool {
	v, err := decodeCursor(c)
	_, isInt := v.(int64)
	return err == nil && isInt == intKeyset
}
