package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/converge"
)

// Body is a decoded request document: data.type was checked and every attribute
// name was allow-listed. Values are read with the typed getters, which tell
// "absent" from "null" (PATCH keeps absent attributes as they are).
type Body struct {
	Type          string
	ID            string
	attrs         map[string]json.RawMessage
	Relationships map[string]json.RawMessage
	Meta          map[string]json.RawMessage
}

type wireBody struct {
	Data *struct {
		Type          string                     `json:"type"`
		ID            string                     `json:"id"`
		Attributes    map[string]json.RawMessage `json:"attributes"`
		Relationships map[string]json.RawMessage `json:"relationships"`
		Meta          map[string]json.RawMessage `json:"meta"`
	} `json:"data"`
}

// DecodeBody reads r's document for a resource of type typ. allowed lists the
// attribute names the endpoint accepts; nil accepts any (free-form documents).
func DecodeBody(r *http.Request, typ string, allowed []string) (*Body, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &steward.Error{Kind: KindTooLarge, Code: "too_large",
				Detail: fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit)}
		}
		return nil, &steward.Error{Kind: steward.KindBadRequest, Code: "unreadable_body", Detail: "the request body could not be read"}
	}
	var wb wireBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	err = dec.Decode(&wb)
	if err == nil {
		// Anything after the document (even a stray '}') makes it malformed.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errTrailing
		}
	}
	if err != nil {
		detail := "the request body is not valid JSON"
		if err != errTrailing {
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			switch {
			case errors.As(err, &se):
				detail = fmt.Sprintf("the request body is not valid JSON (at byte %d: %s)", se.Offset, se.Error())
			case errors.As(err, &te):
				detail = fmt.Sprintf("the request document has %s where %s was expected", te.Value, describe(te.Type.String()))
			}
		}
		return nil, &steward.Error{Kind: steward.KindBadRequest, Code: "malformed_body", Pointer: "/", Detail: detail}
	}
	if wb.Data == nil {
		return nil, &steward.Error{Kind: steward.KindBadRequest, Code: "missing_data", Pointer: "/data",
			Detail: "the request document must have a data object"}
	}
	if wb.Data.Type != "" && wb.Data.Type != typ {
		return nil, &steward.Error{Kind: steward.KindConflict, Code: "type_mismatch", Pointer: "/data/type",
			Detail: fmt.Sprintf("data.type %s does not match this endpoint, which takes %q", steward.Echo(wb.Data.Type), typ)}
	}
	if allowed != nil {
		var unknown []string
		for k := range wb.Data.Attributes {
			if !contains(allowed, k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, &steward.Error{Kind: steward.KindInvalid, Code: "unknown_attribute", Pointer: "/data/attributes/" + unknown[0],
				Detail: fmt.Sprintf("unknown attribute(s) %s; this endpoint accepts: %s", strings.Join(unknown, ", "), strings.Join(allowed, ", "))}
		}
	}
	if err := checkNUL(wb.Data.Attributes, wb.Data.Relationships, wb.Data.Meta); err != nil {
		return nil, err
	}
	attrs := wb.Data.Attributes
	if attrs == nil {
		attrs = map[string]json.RawMessage{}
	}
	return &Body{Type: typ, ID: wb.Data.ID, attrs: attrs, Relationships: wb.Data.Relationships, Meta: wb.Data.Meta}, nil
}

var errTrailing = errors.New("data after the JSON document")

// checkNUL refuses NUL characters in any string of the document: PostgreSQL
// stores no NUL in text or jsonb, and no attribute needs one.
func checkNUL(attrs, rels, meta map[string]json.RawMessage) error {
	for _, part := range []struct {
		prefix string
		m      map[string]json.RawMessage
	}{{"/data/attributes/", attrs}, {"/data/relationships/", rels}, {"/data/meta/", meta}} {
		for k, v := range part.m {
			if !bytes.Contains(v, []byte(`\u0000`)) && !strings.ContainsRune(k, 0) {
				continue
			}
			var decoded any
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber() // 1e400 is no reason to suspect a NUL
			if dec.Decode(&decoded) == nil && !hasNUL(decoded) && !strings.ContainsRune(k, 0) {
				continue // an escaped backslash followed by "u0000"
			}
			return &steward.Error{Kind: steward.KindInvalid, Code: "invalid_characters", Pointer: part.prefix + strings.ReplaceAll(k, "\x00", ""),
				Detail: "text must not contain NUL characters (\\u0000)"}
		}
	}
	return nil
}

func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsRune(x, 0)
	case []any:
		for _, e := range x {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	}
	return false
}

func describe(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "struct"), strings.HasPrefix(goType, "*struct"):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return goType
}

// CheckID refuses a data.id naming another resource than the URL does (409);
// an absent id is fine.
func (b *Body) CheckID(id string) error {
	if b.ID != "" && b.ID != id && canonicalID(b.ID) != canonicalID(id) {
		return &steward.Error{Kind: steward.KindConflict, Code: "id_mismatch", Pointer: "/data/id",
			Detail: fmt.Sprintf("data.id %s does not match the resource at this URL (%s)", steward.Echo(b.ID), steward.Echo(id))}
	}
	return nil
}

// canonicalID is the lower-case form of a UUID (ids compare that way on both
// databases); anything else as it is.
func canonicalID(s string) string {
	if id, ok := steward.ParseID(s); ok {
		return id
	}
	return s
}

// NoClientID refuses a create request that names its own id: Steward makes
// every id (403, as JSON:API asks of servers without client-generated ids).
func (b *Body) NoClientID() error {
	if b.ID != "" {
		return &steward.Error{Kind: steward.KindForbidden, Code: "client_id_unsupported", Pointer: "/data/id",
			Detail: "ids are assigned by the server; leave data.id out when creating"}
	}
	return nil
}

// Has reports whether attribute k was sent (even as null).
func (b *Body) Has(k string) bool { _, ok := b.attrs[k]; return ok }

// IsNull reports whether attribute k was sent as null.
func (b *Body) IsNull(k string) bool { v, ok := b.attrs[k]; return ok && string(v) == "null" }

// Attributes returns the attributes as raw JSON values (free-form documents).
func (b *Body) Attributes() map[string]json.RawMessage { return b.attrs }

// Pointer is the JSON pointer of attribute k.
func Pointer(k string) string { return "/data/attributes/" + k }

// String reads string attribute k into dst when present. null is refused.
func (b *Body) String(k string, dst *string) error {
	v, ok := b.attrs[k]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil || string(v) == "null" {
		return steward.Invalid(k, "invalid_type", "%s must be a string", k)
	}
	return nil
}

// NullableString reads string-or-null attribute k into dst when present.
func (b *Body) NullableString(k string, dst **string) error {
	v, ok := b.attrs[k]
	if !ok {
		return nil
	}
	if string(v) == "null" {
		*dst = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return steward.Invalid(k, "invalid_type", "%s must be a string or null", k)
	}
	*dst = &s
	return nil
}

// Bool reads boolean attribute k into dst when present.
func (b *Body) Bool(k string, dst *bool) error {
	v, ok := b.attrs[k]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil || string(v) == "null" {
		return steward.Invalid(k, "invalid_type", "%s must be true or false", k)
	}
	return nil
}

// Int reads integer attribute k into dst when present.
func (b *Body) Int(k string, dst *int) error {
	v, ok := b.attrs[k]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil || string(v) == "null" {
		return steward.Invalid(k, "invalid_type", "%s must be a whole number", k)
	}
	return nil
}

// Object reads object attribute k into dst when present; null and non-objects
// are refused. Numbers are exact (converge.Decode): what is stored and read
// back is the number as sent, never a rounded float.
func (b *Body) Object(k string, dst *map[string]any) error {
	v, ok := b.attrs[k]
	if !ok {
		return nil
	}
	val, err := b.value(k, v)
	if err != nil {
		return err
	}
	m, ok := val.(map[string]any)
	if !ok {
		return steward.Invalid(k, "invalid_type", "%s must be an object", k)
	}
	*dst = m
	return nil
}

// Value reads attribute k, any JSON value, into dst when present (free-form
// attributes), numbers exact as Object reads them.
func (b *Body) Value(k string, dst *any) error {
	v, ok := b.attrs[k]
	if !ok {
		return nil
	}
	val, err := b.value(k, v)
	if err != nil {
		return err
	}
	*dst = val
	return nil
}

func (b *Body) value(k string, raw json.RawMessage) (any, error) {
	val, err := converge.Decode(raw)
	var e *steward.Error
	if errors.As(err, &e) {
		c := *e
		c.Field = k + e.Field
		return nil, &c
	}
	if err != nil { // DecodeBody checked the document, so this is not expected
		return nil, steward.Invalid(k, "invalid_type", "%s is not valid JSON", k)
	}
	return val, nil
}

// Strings reads an array-of-strings attribute k into dst when present.
func (b *Body) Strings(k string, dst *[]string) error {
	v, ok := b.attrs[k]
	if !ok {
		return nil
	}
	var s []string
	if err := json.Unmarshal(v, &s); err != nil || string(v) == "null" {
		return steward.Invalid(k, "invalid_type", "%s must be an array of strings", k)
	}
	*dst = s
	return nil
}

// Require reports a 422 for the first of keys that is absent.
func (b *Body) Require(keys ...string) error {
	for _, k := range keys {
		if !b.Has(k) {
			return steward.Invalid(k, "required", "%s is required", k)
		}
	}
	return nil
}
