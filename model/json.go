package model

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stewardhq/steward/pkg/converge"
)

// JSON columns are jsonb (PostgreSQL) or text (SQLite) and NOT NULL, so every
// JSON column type stores nil as its empty JSON value and reads NULL as it:
// callers never meet a nil map or list from the database.

// JSONValue stores v as JSON text, or empty when isNil.
func JSONValue(isNil bool, empty string, v any) (driver.Value, error) {
	if isNil {
		return empty, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// ScanJSON reads JSON text or bytes from src into dst, starting from empty (a
// fresh empty value of the type), which is also what NULL reads as.
func ScanJSON[T any](name string, src any, dst *T, empty T) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*dst = empty
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("%s: cannot scan %T", name, src)
	}
	if err := json.Unmarshal(b, &empty); err != nil {
		return err
	}
	*dst = empty
	return nil
}

// JSONMap is a free-form JSON object. Its numbers are exact (see
// converge.CanonicalNumber): float64 where that writes back the same text,
// json.Number otherwise, so 123456789012345678901234567890 is never rounded
// and both databases return the same text.
type JSONMap map[string]any

// Value stores the map as JSON text; nil becomes {}.
func (m JSONMap) Value() (driver.Value, error) { return JSONValue(m == nil, "{}", map[string]any(m)) }

// Scan reads JSON text or bytes, numbers exact (through UnmarshalJSON);
// NULL and null read as an empty map.
func (m *JSONMap) Scan(src any) error {
	if err := ScanJSON("JSONMap", src, m, JSONMap{}); err != nil {
		return fmt.Errorf("JSONMap: %w", err)
	}
	if *m == nil {
		*m = JSONMap{}
	}
	return nil
}

// UnmarshalJSON decodes an object with its numbers exact; null is nil.
func (m *JSONMap) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*m = nil
		return nil
	}
	obj, err := DecodeJSONObject(b)
	if err != nil {
		return err
	}
	*m = obj
	return nil
}

// DecodeJSONObject is converge.Decode for a value that must be an object.
func DecodeJSONObject(raw []byte) (JSONMap, error) {
	v, err := converge.Decode(raw)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return JSONMap(obj), nil
}

var errNotObject = errors.New("the JSON value is not an object")

// JSONList is a JSON array of strings.
type JSONList []string

// Value stores the list as JSON text; nil becomes [].
func (l JSONList) Value() (driver.Value, error) { return JSONValue(l == nil, "[]", []string(l)) }

// Scan reads JSON text or bytes.
func (l *JSONList) Scan(src any) error { return ScanJSON("JSONList", src, l, JSONList{}) }
