package engine

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/model"
)

// passedThrough are the only variables of the server's own environment a
// step sees: never its secrets, STEWARD_* configuration or database URL.
var passedThrough = []string{"PATH", "HOME", "LANG"}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// stepEnvironment builds a step's environment, later sources winning: the
// passed-through server variables, the `env` then `opschain.env` property
// objects, the action's own env, then Steward's variables (which nothing
// overrides). skipped lists property names that could not be used.
func stepEnvironment(st *run.Step, c *run.Change, rc *run.RunContext, propsFile, patchFile, home string) (env, skipped []string) {
	vars := map[string]string{}
	for _, k := range passedThrough {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	if vars["PATH"] == "" {
		vars["PATH"] = defaultPath
	}
	if home != "" {
		vars["HOME"] = home
	}
	fromProps := func(obj any) {
		m, _ := obj.(map[string]any)
		for _, k := range sortedKeys(m) {
			if !envName.MatchString(k) || strings.HasPrefix(k, "STEWARD_") {
				skipped = append(skipped, k)
				continue
			}
			vars[k] = envValue(m[k])
		}
	}
	fromProps(rc.Properties["env"])
	if oc, ok := rc.Properties["opschain"].(map[string]any); ok {
		fromProps(oc["env"])
	}
	for k, v := range st.Env {
		vars[k] = envValue(v)
	}
	vars["STEWARD_PROPERTIES"] = propsFile
	vars["STEWARD_PROPERTIES_PATCH"] = patchFile
	vars["STEWARD_CHANGE_ID"] = c.ID
	vars["STEWARD_STEP_ID"] = st.ID
	vars["STEWARD_ACTION"] = st.Action
	vars["STEWARD_NODE_PATH"] = rc.Node.Path
	for _, k := range sortedKeys(vars) {
		env = append(env, k+"="+strings.ReplaceAll(vars[k], "\x00", ""))
	}
	return env, skipped
}

// envValue is a property as a variable: strings as they are, anything else
// as JSON.
func envValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeFiles writes the `opschain.files` property into the step's working
// directory before it runs. Each key is a path relative to that directory
// (absolute paths, `~` and paths leaving it are refused: properties must
// not be able to write the server's files); each value is the content as a
// string, or an object {content, mode, format} where mode is an octal
// string (default "0600") and format is raw (default), base64, or json
// (content, any JSON value, is written as JSON).
//
// The folder is the step's (earlier steps of the change may have left links
// in it, or put a link in its place), so it is opened inside the checkout
// and every path resolved inside it with os.Root: a link cannot make this
// process write elsewhere.
func (e *Engine) writeFiles(src, actionsDir string, props model.JSONMap) error {
	oc, _ := props["opschain"].(map[string]any)
	files, ok := oc["files"]
	if !ok || files == nil {
		return nil
	}
	m, ok := files.(map[string]any)
	if !ok {
		return fmt.Errorf("must be an object of paths to files, not %T", files)
	}
	if len(m) == 0 {
		return nil
	}
	root, err := openIn(src, filepath.FromSlash(actionsDir))
	if err != nil {
		return fmt.Errorf("the step's working directory cannot be opened inside its checkout: %v", err)
	}
	defer root.Close()
	for _, name := range sortedKeys(m) {
		data, mode, err := fileSpec(m[name])
		if err != nil {
			return fmt.Errorf("%q: %v", name, err)
		}
		clean := filepath.Clean(filepath.FromSlash(name))
		if name == "" || filepath.IsAbs(clean) || strings.HasPrefix(name, "~") || clean == "." ||
			clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return fmt.Errorf("%q: paths are relative to the step's working directory and stay inside it", name)
		}
		if err := e.writeOwned(root, clean, data, mode); err != nil {
			return err
		}
	}
	return nil
}

func fileSpec(v any) ([]byte, os.FileMode, error) {
	if s, ok := v.(string); ok {
		return []byte(s), 0o600, nil
	}
	spec, ok := v.(map[string]any)
	if !ok {
		return nil, 0, fmt.Errorf("must be a string or an object {content, mode, format}")
	}
	mode := os.FileMode(0o600)
	if m, ok := spec["mode"]; ok {
		ms, ok := m.(string)
		n, err := strconv.ParseUint(ms, 8, 32)
		if !ok || err != nil || n > 0o777 {
			return nil, 0, fmt.Errorf("mode must be an octal string such as \"0644\"")
		}
		mode = os.FileMode(n)
	}
	format, _ := spec["format"].(string)
	switch format {
	case "", "raw":
		s, ok := spec["content"].(string)
		if !ok && spec["content"] != nil {
			return nil, 0, fmt.Errorf("content must be a string for format raw")
		}
		return []byte(s), mode, nil
	case "base64":
		s, _ := spec["content"].(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, 0, fmt.Errorf("content is not base64: %v", err)
		}
		return b, mode, nil
	case "json":
		b, err := json.Marshal(spec["content"])
		return b, mode, err
	}
	return nil, 0, fmt.Errorf("format must be raw, base64 or json, not %q", format)
}
