package engine_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
)

// TestStepTrees runs step trees end to end and checks every step's final
// status, the change's, and what the log says.
func TestStepTrees(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, actions(fmt.Sprintf(`
  hello:
    run: echo hello from $STEWARD_ACTION
  boom:
    run: echo about to fail; exit 3
  ok-a:
    run: echo a >> %[1]s/order
  ok-b:
    run: echo b >> %[1]s/order
  ok-c:
    run: echo c >> %[1]s/order
  seq-ok:
    steps: [ok-a, ok-b, ok-c]
  seq-fail:
    run_as: sequential
    steps: [ok-a, boom, ok-c]
  parent-first:
    run: echo parent >> %[1]s/parent-order
    steps: [child]
  child:
    run: echo child >> %[1]s/parent-order
  parent-fails:
    run: exit 1
    steps: [child]
  rendezvous-1:
    timeout: 20s
    run: touch %[1]s/r1; while [ ! -f %[1]s/r2 ]; do sleep 0.01; done
  rendezvous-2:
    timeout: 20s
    run: touch %[1]s/r2; while [ ! -f %[1]s/r1 ]; do sleep 0.01; done
  par-ok:
    run_as: parallel
    steps: [rendezvous-1, rendezvous-2]
  par-fail:
    run_as: parallel
    steps: [boom, slow-ok]
  slow-ok:
    run: sleep 0.3; echo slow done
  nested:
    steps: [seq-ok, par-fail, hello]
`, dir)), enginetest.Unisolated)

	cases := []struct {
		action, want, steps string
		log                 []string
	}{
		{"hello", run.StatusSuccess, "hello:success", []string{"hello from hello"}},
		{"boom", run.StatusError, "boom:error", []string{"about to fail", "the step failed: exit status 3"}},
		{"seq-ok", run.StatusSuccess, "seq-ok:success ok-a:success ok-b:success ok-c:success", nil},
		{"seq-fail", run.StatusError, "seq-fail:error ok-a:success boom:error ok-c:aborted", nil},
		{"parent-first", run.StatusSuccess, "parent-first:success child:success", nil},
		{"parent-fails", run.StatusError, "parent-fails:error child:aborted", nil},
		// Each waits for the other: only a parallel run can finish.
		{"par-ok", run.StatusSuccess, "par-ok:success rendezvous-1:success rendezvous-2:success", nil},
		// The sibling of a failed step finishes, then the parent errors.
		{"par-fail", run.StatusError, "par-fail:error boom:error slow-ok:success", []string{"slow done"}},
		{"nested", run.StatusError,
			"nested:error seq-ok:success ok-a:success ok-b:success ok-c:success par-fail:error boom:error slow-ok:success hello:aborted", nil},
	}
	for _, tc := range cases {
		t.Run(tc.action, func(t *testing.T) {
			c := f.run(nil, tc.action, nil, nil)
			f.wait(c, tc.want)
			if got := f.stepSummary(c); got != tc.steps {
				t.Errorf("steps = %q, want %q", got, tc.steps)
			}
			log := f.log(c)
			for _, want := range tc.log {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
		})
	}
	if got := readFile(t, filepath.Join(dir, "order")); got != "a\nb\nc\na\na\nb\nc\n" {
		t.Errorf("sequential steps ran in order %q, want a b c (seq-ok), a (seq-fail), a b c (nested)", got)
	}
	if got := readFile(t, filepath.Join(dir, "parent-order")); got != "parent\nchild\n" {
		t.Errorf("parent and child ran in order %q", got)
	}
}

// TestTransitionEvents checks that each transition of a change and its
// steps is an event, in order.
func TestTransitionEvents(t *testing.T) {
	f := newFixture(t, actions(`
  ok:
    run: "true"
  fails:
    run: "false"
  both:
    steps: [ok, fails, ok]
`))
	c := f.run(nil, "both", nil, nil)
	f.wait(c, run.StatusError)
	want := []string{"api:changes:create", "api:changes:start", "api:steps:start", "api:steps:start", "api:steps:success",
		"api:steps:start", "api:steps:error", "api:steps:abort", "api:steps:error", "api:changes:error"}
	if got := f.events(c); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
	var st run.Step
	if err := f.store.DB.Where("change_id = ? AND position = 2", c.ID).Take(&st).Error; err != nil {
		t.Fatal(err)
	}
	if st.StartedAt == nil || st.FinishedAt == nil || st.LeaseOwner != nil || st.QueuedAt == nil {
		t.Errorf("finished step keeps started %v, finished %v, queued %v and no lease (%v)", st.StartedAt, st.FinishedAt, st.QueuedAt, st.LeaseOwner)
	}
}

// TestStepEnvironment checks what a step's process sees: Steward's
// variables, properties as a file and as variables, opschain.files, and
// nothing else from the server's environment.
func TestStepEnvironment(t *testing.T) {
	f := newFixture(t, actions(`
  show:
    env: { FROM_ACTION: yes }
    run: |
      echo "names: $(env | cut -d= -f1 | sort | tr '\n' ' ')"
      echo "vars: $FOO $NUM $FROM_ACTION $STEWARD_ACTION $STEWARD_NODE_PATH"
      echo "cwd: $(pwd)"
      cat "$STEWARD_PROPERTIES"; echo
      echo "file: $(cat conf/app.txt) $(stat -c %a conf/app.txt)"
      test "$STEWARD_CHANGE_ID" != "" && test "$STEWARD_STEP_ID" != ""
`))
	env := f.node("dev")
	props := model.JSONMap{
		"env":      map[string]any{"NUM": 3, "bad name": "x"},
		"opschain": map[string]any{"env": map[string]any{"FOO": "bar"}, "files": map[string]any{"conf/app.txt": map[string]any{"content": "hi", "mode": "0640"}}},
		"shared":   "from-env",
	}
	if _, err := f.store.UpdatePropertySet(f.ctx, f.admin, model.KindProperties, env.PropertiesID, model.PropertySetUpdate{Data: props}); err != nil {
		t.Fatal(err)
	}
	c := f.run(env, "show", nil, model.JSONMap{"override": true})
	f.wait(c, run.StatusSuccess)
	log := f.log(c)
	lines := strings.Split(log, "\n")
	var names []string
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "names: "); ok {
			names = strings.Fields(rest)
		}
	}
	allowed := map[string]bool{"PATH": true, "HOME": true, "LANG": true, "PWD": true, "SHLVL": true, "_": true, "OLDPWD": true,
		"FOO": true, "NUM": true, "FROM_ACTION": true}
	for _, n := range names {
		if !allowed[n] && !strings.HasPrefix(n, "STEWARD_") {
			t.Errorf("step sees server variable %s", n)
		}
	}
	for _, n := range []string{"STEWARD_PROPERTIES", "STEWARD_PROPERTIES_PATCH", "STEWARD_CHANGE_ID", "STEWARD_STEP_ID", "STEWARD_ACTION", "STEWARD_NODE_PATH"} {
		if !contains(names, n) {
			t.Errorf("step lacks %s; has %v", n, names)
		}
	}
	for _, n := range names {
		if n == "STEWARD_DATABASE_URL" || n == "STEWARD_SECRET_KEY" || n == "STEWARD_TEST_POSTGRES_URL" {
			t.Errorf("step sees %s", n)
		}
	}
	for _, want := range []string{"vars: bar 3 yes show /projects/p/environments/dev", "file: hi 640",
		`environment variable "bad name" from the properties was not set`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	var seen map[string]any
	for _, l := range lines {
		if strings.HasPrefix(l, "{") {
			if err := json.Unmarshal([]byte(l), &seen); err != nil {
				t.Fatalf("properties file is not JSON: %v\n%s", err, l)
			}
		}
	}
	if seen["shared"] != "from-env" || seen["override"] != true {
		t.Errorf("properties file = %v, want the environment's properties and the change's overrides", seen)
	}
}
