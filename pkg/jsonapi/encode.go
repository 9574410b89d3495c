package jsonapi

import (
	"encoding/json"
	"reflect"
	"slices"

	"github.com/stewardhq/steward/pkg/jsonstr"
)

// The document encoder. encoding/json spent most of a list's rendering on
// maps (links, relationships, meta.authorisations): reflection over each
// one, and a sorted copy of its keys. This writes the document's own types
// by hand, byte for byte as encoding/json writes them (sorted keys, HTML
// characters, invalid UTF-8 and U+2028/9 escaped the same way: encode_test.go
// compares the two), and hands every other value to encoding/json, or to
// its AppendJSON method when it has one.

// Appender is a value that writes its own JSON, exactly as encoding/json
// would write it (jsonstr.Append and AppendBoolMaps help), after dst.
type Appender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

func appendDocument(b []byte, doc Document, included []*Resource, always bool) ([]byte, error) {
	var err error
	b = append(b, `{"data":`...)
	if b, err = appendData(b, doc.Data); err != nil {
		return nil, err
	}
	if always || len(included) > 0 {
		b = append(b, `,"included":`...)
		if b, err = appendResources(b, included); err != nil {
			return nil, err
		}
	}
	if len(doc.Meta) > 0 {
		b = append(b, `,"meta":`...)
		if b, err = appendValue(b, doc.Meta); err != nil {
			return nil, err
		}
	}
	if len(doc.Links) > 0 {
		b = append(b, `,"links":`...)
		b = appendStringMap(b, doc.Links)
	}
	return append(b, '}'), nil
}

func appendData(b []byte, data any) ([]byte, error) {
	switch d := data.(type) {
	case nil:
		return append(b, "null"...), nil
	case *Resource:
		if d == nil {
			return append(b, "null"...), nil
		}
		return appendResource(b, d)
	case []*Resource:
		return appendResources(b, d)
	}
	return appendValue(b, data)
}

func appendResources(b []byte, rs []*Resource) ([]byte, error) {
	if rs == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if r == nil {
			b = append(b, "null"...)
		} else if b, err = appendResource(b, r); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendResource(b []byte, r *Resource) ([]byte, error) {
	var err error
	b = append(b, `{"type":`...)
	b = jsonstr.Append(b, r.Type)
	b = append(b, `,"id":`...)
	b = jsonstr.Append(b, r.ID)
	if r.Attributes != nil {
		b = append(b, `,"attributes":`...)
		if b, err = appendValue(b, r.Attributes); err != nil {
			return nil, err
		}
	}
	if len(r.Relationships) > 0 {
		b = append(b, `,"relationships":{`...)
		for i, k := range sortedKeys(r.Relationships) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(jsonstr.Append(b, k), ':')
			if b, err = appendRelationship(b, r.Relationships[k]); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	if len(r.Links) > 0 {
		b = append(b, `,"links":`...)
		b = appendStringMap(b, r.Links)
	}
	if r.Meta != nil {
		b = append(b, `,"meta":`...)
		if b, err = appendValue(b, r.Meta); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendRelationship(b []byte, rel *Relationship) ([]byte, error) {
	if rel == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	if rel.Data != nil {
		b = append(b, `"data":`...)
		switch d := rel.Data.(type) {
		case Identifier:
			b = appendIdentifier(b, d)
		case *Identifier:
			if d == nil {
				b = append(b, "null"...)
			} else {
				b = appendIdentifier(b, *d)
			}
		case []Identifier:
			if d == nil {
				b = append(b, "null"...)
				break
			}
			b = append(b, '[')
			for i, id := range d {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendIdentifier(b, id)
			}
			b = append(b, ']')
		default:
			var err error
			if b, err = appendValue(b, d); err != nil {
				return nil, err
			}
		}
	}
	if len(rel.Links) > 0 {
		if rel.Data != nil {
			b = append(b, ',')
		}
		b = append(b, `"links":`...)
		b = appendStringMap(b, rel.Links)
	}
	return append(b, '}'), nil
}

func appendIdentifier(b []byte, id Identifier) []byte {
	b = append(b, `{"type":`...)
	b = jsonstr.Append(b, id.Type)
	b = append(b, `,"id":`...)
	b = jsonstr.Append(b, id.ID)
	return append(b, '}')
}

// appendValue writes v as encoding/json does, or through its AppendJSON.
func appendValue(b []byte, v any) ([]byte, error) {
	if a, ok := v.(Appender); ok {
		if rv := reflect.ValueOf(a); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return append(b, "null"...), nil // as encoding/json writes a nil Marshaler
		}
		return a.AppendJSON(b)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

func appendStringMap(b []byte, m map[string]string) []byte {
	return appendMap(b, m, jsonstr.Append[string])
}

// AppendBoolMaps writes a map of maps of booleans (a resource's
// meta.authorisations) with sorted keys, as encoding/json does; nil is null.
func AppendBoolMaps(b []byte, m map[string]map[string]bool) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	return appendMap(b, m, func(b []byte, inner map[string]bool) []byte {
		if inner == nil {
			return append(b, "null"...)
		}
		return appendMap(b, inner, AppendBool)
	})
}

// appendMap writes m as an object with sorted keys, as encoding/json
// orders a map's; appendValue writes each value.
func appendMap[V any](b []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(jsonstr.Append(b, k), ':')
		b = appendValue(b, m[k])
	}
	return append(b, '}')
}

// AppendBool writes true or false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
