package model_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model"
)

// FuzzParseActionsFile: an actions.yaml from a repository is hostile input.
// Parsing never panics; a refusal names the file; an accepted file keeps
// every action once, in file order, with only valid run_as values and child
// steps that name actions of the file; and the parsed file, written out
// again (as JSON, which is YAML), parses to the same thing.
func FuzzParseActionsFile(f *testing.F) {
	for _, seed := range []string{
		"actions:\n  p:\n    run_as: parallel\n    steps: [a, b, {wait: {name: W, requires_approval_from: ops}}]\n  a: {run: x, timeout: 1m}\n  b: {run: y}\n",
		`actions:
  build:
    description: Build the release
    run: make build
    timeout: 10m
    env: { GOFLAGS: -mod=mod }
  deploy:
    description: Build, approve, release
    run_as: sequential
    steps:
      - build
      - wait: { name: Approval, requires_approval_from: ops }
      - wait: { name: Smoke check }
      - release
  release:
    run: ./scripts/release.sh
`,
		"actions: {}\n", "actions:\n  a:\n    run_as: sideways\n", "actions:\n  a:\n    steps: [b]\n",
		"actions:\n  a:\n    unknown: 1\n", "actions:\n  a:\n    steps:\n      - wait: {}\n", "actions:\n  ' ':\n    run: x\n",
		"actions:\n  1:\n    run: x\n  1.0:\n    run: y\n", "actions:\n  a: &x {run: x}\n  b: *x\n", "actions:\n  a: {run: x}\n  a: {run: y}\n",
		"actions:\n  a:\n    steps: [a]\n", "actions:\n  a:\n    env: {K: 1, L: true}\n", "actions: [a]\n", "", "- x", "actions:\n  a: {run: \"\\u0000\"}\n",
		"actions:\n  <<: {a: {run: x}}\n", "actions:\n  a:\n    steps:\n      - wait: {name: W}\n        extra: 1\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		af, err := model.ParseActionsFile("actions.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "actions.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkActions(t, af)
		again, err := model.ParseActionsFile("again.yaml", printActions(af))
		if err != nil {
			t.Fatalf("%q parsed, but written out again it does not: %v\n%s", data, err, printActions(af))
		}
		if !reflect.DeepEqual(af, again) {
			t.Fatalf("%q: round trip changed the file:\n%#v\n%#v", data, af, again)
		}
	})
}

func checkActions(t *testing.T, af *model.ActionsFile) {
	t.Helper()
	if len(af.Names) != len(af.Actions) || len(af.Names) == 0 || len(af.List()) != len(af.Names) {
		t.Fatalf("%d names for %d actions: %q", len(af.Names), len(af.Actions), af.Names)
	}
	seen := map[string]bool{}
	for _, name := range af.Names {
		a, ok := af.Actions[name]
		if !ok || seen[name] || strings.TrimSpace(name) == "" {
			t.Fatalf("name %q: defined %v, repeated %v", name, ok, seen[name])
		}
		seen[name] = true
		if a.RunAs != "" && a.RunAs != "sequential" && a.RunAs != "parallel" {
			t.Fatalf("%s: run_as %q", name, a.RunAs)
		}
		for _, st := range a.Steps {
			if _, ok := af.Actions[st.Action]; st.Wait == nil && !ok {
				t.Fatalf("%s: step %q names no action", name, st.Action)
			}
		}
	}
}

// printActions writes af as JSON in file order, only the fields set.
func printActions(af *model.ActionsFile) []byte {
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	b.WriteString(`{"actions": {`)
	for i, name := range af.Names {
		a := af.Actions[name]
		if i > 0 {
			b.WriteString(", ")
		}
		var fields []string
		for _, kv := range [][2]string{{"description", a.Description}, {"run", a.Run}, {"timeout", a.Timeout}, {"run_as", a.RunAs}} {
			if kv[1] != "" {
				fields = append(fields, str(kv[0])+": "+str(kv[1]))
			}
		}
		if a.Env != nil {
			env, _ := json.Marshal(a.Env)
			fields = append(fields, `"env": `+string(env))
		}
		if a.Steps != nil {
			var steps []string
			for _, st := range a.Steps {
				if st.Wait == nil {
					steps = append(steps, str(st.Action))
					continue
				}
				var w []string
				if st.Wait.Name != "" {
					w = append(w, `"name": `+str(st.Wait.Name))
				}
				if st.Wait.RequiresApprovalFrom != "" {
					w = append(w, `"requires_approval_from": `+str(st.Wait.RequiresApprovalFrom))
				}
				steps = append(steps, `{"wait": {`+strings.Join(w, ", ")+`}}`)
			}
			fields = append(fields, `"steps": [`+strings.Join(steps, ", ")+`]`)
		}
		b.WriteString(str(name) + ": {" + strings.Join(fields, ", ") + "}")
	}
	b.WriteString("}}\n")
	return []byte(b.String())
}
