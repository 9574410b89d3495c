package converge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"text/template"
)

// MintModelPath is where a template's MintModel template lives in its repository.
func MintModelPath(templateCode string) string {
	return "mintmodel/templates/assets/" + templateCode + ".json.tmpl"
}

// MaxMintModelSize bounds a rendered MintModel; rendering stops beyond it.
const MaxMintModelSize = 4 << 20

// Rendered is an executed MintModel template: the exact bytes, their SHA-256
// (hex) and the JSON object they hold.
type Rendered struct {
	Bytes  []byte
	SHA256 string
	Data   map[string]any
}

// RenderError is a MintModel template that failed. Key is the missing
// property when that is the cause; Line is 1-based in the template, 0 when
// unknown.
type RenderError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *RenderError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// funcs are the helpers a MintModel template may use besides text/template's
// built-ins. json writes a value as JSON, so arrays, objects and strings with
// quotes come out valid: "servers": {{ json .servers }}.
var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

var (
	templateLine = regexp.MustCompile(`^template: [^:]*:(\d+)`)
	missingKey   = regexp.MustCompile(`map has no entry for key "([^"]*)"`)
)

// RenderMintModel executes the template source (named file, for errors) with
// data, strictly: a key the data lacks is an error naming it, never
// "<no value>". The output must be a JSON object.
func RenderMintModel(file string, source []byte, data map[string]any) (*Rendered, error) {
	t, err := template.New(file).Option("missingkey=error").Funcs(funcs).Parse(string(source))
	if err != nil {
		return nil, templateError(file, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&limitWriter{w: &buf, left: MaxMintModelSize}, data); err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &RenderError{File: file, Msg: fmt.Sprintf("the rendered MintModel is larger than %d bytes", MaxMintModelSize)}
		}
		return nil, templateError(file, err)
	}
	out := buf.Bytes()
	if err := json.Unmarshal(out, new(any)); err != nil {
		re := &RenderError{File: file, Msg: "the rendered MintModel is not valid JSON: " + err.Error()}
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			// The line is one of the output, not of the template.
			line, col := position(out, syn.Offset)
			re.Msg = fmt.Sprintf("the rendered MintModel is not valid JSON (output line %d, column %d): %s", line, col, syn.Error())
		}
		return nil, re
	}
	v, err := DecodeJSON(out) // valid JSON: only a number out of range fails
	if err != nil {
		return nil, &RenderError{File: file, Msg: "the rendered MintModel cannot be stored: " + err.Error()}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &RenderError{File: file, Msg: "the rendered MintModel must be a JSON object, not " + jsonKind(v)}
	}
	sum := sha256.Sum256(out)
	return &Rendered{Bytes: out, SHA256: hex.EncodeToString(sum[:]), Data: obj}, nil
}

func templateError(file string, err error) *RenderError {
	re := &RenderError{File: file, Msg: err.Error()}
	if m := templateLine.FindStringSubmatch(err.Error()); m != nil {
		re.Line, _ = strconv.Atoi(m[1])
	}
	if m := missingKey.FindStringSubmatch(err.Error()); m != nil {
		re.Key = m[1]
		re.Msg = fmt.Sprintf("property %q is missing from the converged properties (%s)", m[1], err.Error())
	}
	return re
}

var errTooLarge = errors.New("output too large")

type limitWriter struct {
	w    *bytes.Buffer
	left int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, errTooLarge
	}
	l.left -= len(p)
	return l.w.Write(p)
}
