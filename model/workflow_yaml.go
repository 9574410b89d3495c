package model

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/yamlguard"
)

// workflowSource is a workflow's source_yaml: the definition as a document,
// in the reference's shape (code, name, description, created_by, steps).
// created_by is accepted and ignored: the author is whoever saves it.
type workflowSource struct {
	Code        *string     `yaml:"code"`
	Name        *string     `yaml:"name"`
	Description *string     `yaml:"description"`
	CreatedBy   *string     `yaml:"created_by"`
	Steps       []stepInput `yaml:"steps"`
}

const fieldSourceYAML = "source_yaml"

// parseWorkflowYAML reads source strictly: unknown keys, duplicate keys,
// tabs in indentation and values of the wrong type are refused with their
// line and column.
func parseWorkflowYAML(source string) (_ *workflowSource, err error) {
	// The YAML library panics on some malformed documents (see
	// ParseActionsFile): such a document is refused like any broken one.
	defer func() {
		if v := recover(); v != nil {
			err = steward.Invalid(fieldSourceYAML, "invalid_yaml", "source_yaml could not be parsed; check its structure and tags")
		}
	}()
	if strings.TrimSpace(source) == "" {
		return nil, steward.Invalid(fieldSourceYAML, "blank", "source_yaml is empty; it needs at least `steps:`")
	}
	if err := yamlguard.Check([]byte(source)); err != nil {
		return nil, steward.Invalid(fieldSourceYAML, "yaml_too_large", "source_yaml: %v", err)
	}
	if n := yamlguard.Documents([]byte(source)); n > 1 {
		return nil, steward.Invalid(fieldSourceYAML, "several_documents", "source_yaml holds %d YAML documents; a workflow is one", n)
	}
	var src workflowSource
	if err := yaml.UnmarshalWithOptions([]byte(source), &src, yaml.Strict()); err != nil {
		return nil, yamlError(err)
	}
	if src.Steps == nil {
		return nil, steward.Invalid(fieldSourceYAML, "required", "source_yaml has no steps: add a `steps:` list")
	}
	return &src, nil
}

// yamlError makes a parser error a 422 at source_yaml that says where.
func yamlError(err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		pos := ye.GetToken().Position
		e := steward.Invalid(fieldSourceYAML, "invalid_yaml", "source_yaml line %d, column %d: %s", pos.Line, pos.Column, plainYAMLMessage(ye.GetMessage()))
		e.Meta = map[string]any{"line": pos.Line, "column": pos.Column}
		return e
	}
	return steward.Invalid(fieldSourceYAML, "invalid_yaml", "source_yaml: %s", yaml.FormatError(err, false, false))
}

// goTypeError is the decoder's wording for a value of the wrong type, which
// names Go types a user never wrote.
var goTypeError = regexp.MustCompile(`cannot unmarshal (.+?) into Go (?:struct field \S+|value) of type (\S+)`)

// plainYAMLMessage says a type error in the document's own terms.
func plainYAMLMessage(msg string) string {
	m := goTypeError.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	return fmt.Sprintf("this value is %s where %s belongs", yamlKind(m[1]), yamlKind(m[2]))
}

func yamlKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map"), strings.Contains(goType, "MapSlice"), strings.HasPrefix(goType, "model."), strings.HasPrefix(goType, "*model."):
		return "a mapping"
	case strings.Contains(goType, "string"):
		return "text"
	case strings.Contains(goType, "int"), strings.Contains(goType, "uint"):
		return "a whole number"
	case strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "bool"):
		return "true or false"
	}
	return "a value of another kind"
}

// atYAML moves an error that names a step (steps/2/action) to source_yaml,
// saying at which line and column of the source that step or key sits.
func atYAML(err error, source string) error {
	e := steward.AsError(err)
	if e.Kind != steward.KindInvalid || !strings.HasPrefix(e.Field, "steps") {
		return err
	}
	out := *e
	out.Field = fieldSourceYAML
	if line, col, ok := yamlPosition(source, e.Field); ok {
		out.Detail = fmt.Sprintf("source_yaml line %d, column %d: %s", line, col, e.Detail)
		out.Meta = map[string]any{"line": line, "column": col}
	} else {
		out.Detail = "source_yaml: " + e.Detail
	}
	return &out
}

// yamlPosition finds the node at an attribute path (steps/2/children/0/action)
// in source, or the nearest enclosing one when the key is absent.
func yamlPosition(source, field string) (line, column int, ok bool) {
	file, err := parser.ParseBytes([]byte(source), 0)
	if err != nil {
		return 0, 0, false
	}
	parts := strings.Split(field, "/")
	for n := len(parts); n > 0; n-- {
		var b strings.Builder
		b.WriteString("$")
		for _, p := range parts[:n] {
			if p != "" && p[0] >= '0' && p[0] <= '9' {
				b.WriteString("[" + p + "]")
			} else {
				b.WriteString("." + p)
			}
		}
		path, err := yaml.PathString(b.String())
		if err != nil {
			continue
		}
		node, err := path.FilterFile(file)
		if err != nil || node == nil || node.GetToken() == nil {
			continue
		}
		pos := node.GetToken().Position
		return pos.Line, pos.Column, true
	}
	return 0, 0, false
}

// workflowSourceOut is the source_yaml derived from canonical steps.
type workflowSourceOut struct {
	Code        string         `yaml:"code"`
	Name        string         `yaml:"name"`
	Description *string        `yaml:"description,omitempty"`
	Steps       []WorkflowStep `yaml:"steps"`
}

// deriveWorkflowYAML writes the definition as source_yaml, for a workflow
// given as JSON steps. It parses back to the same steps.
func deriveWorkflowYAML(code, name string, description *string, steps []WorkflowStep) (string, error) {
	out, err := yaml.MarshalWithOptions(workflowSourceOut{Code: code, Name: name, Description: description, Steps: steps},
		yaml.IndentSequence(false))
	if err != nil {
		return "", err
	}
	return "---\n" + string(out), nil
}

// editYAMLHeader writes name and description into prev's source_yaml in
// place, so that renaming a workflow keeps its author's comments and layout
// (ok false when the steps changed too, or the source does not hold the
// keys to edit: it is then derived anew).
func editYAMLHeader(prev *WorkflowVersion, carried bool, name string, description *string) (string, bool) {
	if prev == nil || !carried || prev.SourceYAML == "" {
		return "", false
	}
	f, err := parser.ParseBytes([]byte(prev.SourceYAML), parser.ParseComments)
	if err != nil || len(f.Docs) != 1 {
		return "", false
	}
	set := func(key string, value any, changed bool) bool {
		if !changed {
			return true
		}
		p, err := yaml.PathString("$." + key)
		if err != nil {
			return false
		}
		if _, err := p.FilterFile(f); err != nil {
			return false // the key is not there to edit
		}
		v, err := yaml.Marshal(value)
		if err != nil {
			return false
		}
		return p.ReplaceWithReader(f, strings.NewReader(string(v))) == nil
	}
	src, err := parseWorkflowYAML(prev.SourceYAML)
	if err != nil {
		return "", false
	}
	nameChanged := src.Name == nil || *src.Name != name
	descChanged := !sameDescription(src.Description, description)
	if !set("name", name, nameChanged) || !set("description", description, descChanged) {
		return "", false
	}
	out := f.String()
	// What was written must read back as what was meant.
	again, err := parseWorkflowYAML(out)
	if err != nil || again.Name == nil || *again.Name != name || !sameDescription(again.Description, description) {
		return "", false
	}
	return strings.TrimRight(out, "\n") + "\n", true
}
