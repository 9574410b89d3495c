package model

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// JSONMap is a free-form JSON object stored as jsonb (PostgreSQL) or text (SQLite).
type JSONMap map[string]any

// Value stores the map as JSON text; nil becomes {}.
func (m JSONMap) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(m))
	return string(b), err
}

// Scan reads JSON text or bytes.
func (m *JSONMap) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*m = JSONMap{}
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("JSONMap: cannot scan %T", src)
	}
	out := JSONMap{}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	*m = out
	return nil
}

// JSONList is a JSON array of strings stored like JSONMap.
type JSONList []string

// Value stores the list as JSON text; nil becomes [].
func (l JSONList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan reads JSON text or bytes.
func (l *JSONList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = JSONList{}
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("JSONList: cannot scan %T", src)
	}
	out := JSONList{}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	*l = out
	return nil
}

// JSONActors is a JSON array of step actors (approved_by, rejected_by, continued_by).
type JSONActors []StepActor

// Value stores the list as JSON text; nil becomes [].
func (l JSONActors) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]StepActor(l))
	return string(b), err
}

// Scan reads JSON text or bytes.
func (l *JSONActors) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = JSONActors{}
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("JSONActors: cannot scan %T", src)
	}
	out := JSONActors{}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	*l = out
	return nil
}
