// Package converge computes converged properties and renders MintModels:
// parsing repository property files, ordering them by the node hierarchy,
// deep-merging documents and executing MintModel templates. Everything here
// is a pure function of its arguments: no database, no Git, no HTTP.
package converge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/pelletier/go-toml/v2"
	"github.com/stewardhq/steward/pkg/yamlguard"
)

// MaxFileSize bounds one repository property file; a larger one is refused
// rather than parsed, so a stray data dump cannot exhaust memory.
const MaxFileSize = 1 << 20

// ParseError is a property file that cannot be used. Line and Column are
// 1-based; 0 when the problem is the file as a whole.
type ParseError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// IsPropertyFile reports whether name has an extension Parse understands.
func IsPropertyFile(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".json", ".yaml", ".yml", ".toml":
		return true
	}
	return false
}

// Parse reads a .json, .yaml/.yml or .toml property file into a JSON object.
// Values are normalised to what encoding/json produces (string keys, RFC 3339
// times) with numbers exact (see CanonicalNumber), so repository documents
// merge and render exactly like the properties stored in the database. An empty YAML or TOML
// file is an empty object; the top level must be an object.
func Parse(file string, content []byte) (map[string]any, error) {
	if len(content) > MaxFileSize {
		return nil, &ParseError{File: file, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	var v any
	var err error
	switch strings.ToLower(path.Ext(file)) {
	case ".json":
		v, err = parseJSON(file, content)
	case ".yaml", ".yml":
		v, err = parseYAML(file, content)
	case ".toml":
		v, err = parseTOML(file, content)
	default:
		return nil, &ParseError{File: file, Msg: "unsupported file type; use .json, .yaml, .yml or .toml"}
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]any{}, nil
	}
	return normalise(file, v)
}

func parseJSON(file string, content []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.UseNumber() // normalise makes the numbers canonical; none is rounded
	var v any
	err := dec.Decode(&v)
	if err == nil {
		// A second value after the first is as broken as a syntax error.
		var extra any
		if err2 := dec.Decode(&extra); err2 == nil {
			line, col := position(content, dec.InputOffset())
			return nil, &ParseError{File: file, Line: line, Column: col, Msg: "unexpected content after the top-level value"}
		}
		if v == nil {
			return nil, &ParseError{File: file, Line: 1, Column: 1, Msg: "the top level must be an object, not null"}
		}
		return v, nil
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(content, syn.Offset)
		return nil, &ParseError{File: file, Line: line, Column: col, Msg: syn.Error()}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := position(content, int64(len(content)))
		return nil, &ParseError{File: file, Line: line, Column: col, Msg: "unexpected end of JSON input"}
	}
	return nil, &ParseError{File: file, Line: 1, Msg: err.Error()}
}

func parseYAML(file string, content []byte) (any, error) {
	if err := yamlguard.Check(content); err != nil {
		return nil, &ParseError{File: file, Line: 1, Msg: err.Error()}
	}
	var v any
	if err := yaml.Unmarshal(content, &v); err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			pos := ye.GetToken().Position
			return nil, &ParseError{File: file, Line: pos.Line, Column: pos.Column, Msg: ye.GetMessage()}
		}
		return nil, &ParseError{File: file, Line: 1, Msg: err.Error()}
	}
	return v, nil
}

func parseTOML(file string, content []byte) (any, error) {
	var v map[string]any
	if err := toml.Unmarshal(content, &v); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, &ParseError{File: file, Line: line, Column: col, Msg: de.Error()}
		}
		return nil, &ParseError{File: file, Line: 1, Msg: err.Error()}
	}
	if v == nil {
		return nil, nil
	}
	return v, nil
}

// normalise makes v a JSON object of JSON values: YAML may produce non-string
// keys, and YAML and TOML produce integer and time types that the rest of
// Steward (and templates comparing values) would otherwise see differently
// from database properties.
func normalise(file string, v any) (map[string]any, error) {
	keyed, err := stringKeys(v)
	if err != nil {
		return nil, &ParseError{File: file, Msg: err.Error()}
	}
	raw, err := json.Marshal(keyed)
	if err != nil {
		return nil, &ParseError{File: file, Msg: "a value cannot be represented in JSON: " + err.Error()}
	}
	out, err := DecodeJSON(raw)
	if err != nil {
		var ne *NumberError
		if errors.As(err, &ne) {
			return nil, &ParseError{File: file, Msg: "the number at " + ne.Pointer + " " + ne.Msg}
		}
		return nil, &ParseError{File: file, Msg: err.Error()}
	}
	obj, ok := out.(map[string]any)
	if !ok {
		return nil, &ParseError{File: file, Line: 1, Column: 1, Msg: "the top level must be an object, not " + jsonKind(out)}
	}
	return obj, nil
}

func stringKeys(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			nv, err := stringKeys(val)
			if err != nil {
				return nil, err
			}
			out[k] = nv
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if k == nil {
				return nil, errors.New("a mapping key is null; keys must be text")
			}
			if _, ok := k.(map[any]any); ok {
				return nil, errors.New("a mapping key is itself a mapping; keys must be text")
			}
			nv, err := stringKeys(val)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = nv
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			nv, err := stringKeys(val)
			if err != nil {
				return nil, err
			}
			out[i] = nv
		}
		return out, nil
	}
	return v, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// position converts a byte offset into a 1-based line and column.
func position(content []byte, offset int64) (int, int) {
	if offset > int64(len(content)) {
		offset = int64(len(content))
	}
	before := content[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}
