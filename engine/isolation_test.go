package engine_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/internal/testutil"
)

// TestStepsCannotReachTheServersSecrets runs steps on a worker process
// whose environment holds secrets and whose data dir holds a key, a
// database and another change's work tree, as a real server's does. A step
// reads none of them, yet keeps what real actions need: its checkout, its
// properties, its variables, git and the network.
func TestStepsCannotReachTheServersSecrets(t *testing.T) {
	data := t.TempDir()
	for name, content := range map[string]string{"secret.key": "FILE-SECRET-KEY", "steward.db": "DB-FILE-CONTENT"} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var probes atomic.Int32
	gitServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/probe.git/") {
			probes.Add(1)
		}
		http.NotFound(w, r)
	}))
	defer gitServer.Close()

	url, store, project := crashFixture(t, actions(fmt.Sprintf(`
  hold:
    steps:
      - plant
      - wait: { name: Hold }
  plant:
    run: echo OTHER-CHANGE-SECRET > secret-of-other
  leak:
    run: |
      set +e
      echo "parent: $(tr '\000' ' ' < /proc/$PPID/environ)"
      for p in /proc/[0-9]*; do tr '\000' '\n' < $p/environ 2>/dev/null; tr '\000' ' ' < $p/cmdline 2>/dev/null; done
      cat ../../../secret.key ../../../steward.db %[1]s/secret.key %[1]s/steward.db %[1]s/work/*/src/secret-of-other
      ls -a %[1]s %[1]s/work
      echo "checkout: $(head -1 actions.yaml)"
      echo "properties: $(cat "$STEWARD_PROPERTIES")"
      echo "variables: $STEWARD_ACTION $STEWARD_NODE_PATH $STEWARD_CHANGE_ID"
      git init -q scratch && git -C scratch rev-parse --is-inside-work-tree && echo "git works"
      git ls-remote %[2]s/probe.git >/dev/null 2>&1
      echo "home: $HOME" && touch "$HOME/x" && echo "home writable"
      set -e
`, data, gitServer.URL)))
	startWorker(t, url, "isolated-worker", helperDataEnv+"="+data,
		"STEWARD_SECRET_KEY=ENV-SECRET-KEY", "STEWARD_ADMIN_TOKEN=ENV-ADMIN-TOKEN",
		"STEWARD_DATABASE_URL=postgres://steward:ENV-DB-PASSWORD@db/steward")

	hold := createChange(t, store, project, "hold")
	testutil.WaitStepElsewhere(t, store, hold.ID, isWait, run.StatusWaiting)
	if _, err := os.Stat(filepath.Join(data, "work", hold.ID, "src", "secret-of-other")); err != nil {
		t.Fatalf("the other change's work tree is not where this test looks: %v", err)
	}
	leak := createChange(t, store, project, "leak")
	testutil.WaitChangeElsewhere(t, store, leak.ID, run.StatusSuccess, run.StatusError)
	var lines []run.LogLine
	if err := store.DB.Where("change_id = ?", leak.ID).Order("id").Find(&lines).Error; err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Message + "\n")
	}
	log := b.String()
	for _, secret := range []string{"ENV-SECRET-KEY", "ENV-ADMIN-TOKEN", "ENV-DB-PASSWORD", "FILE-SECRET-KEY", "DB-FILE-CONTENT",
		"OTHER-CHANGE-SECRET", helperDBEnv, hold.ID} {
		if strings.Contains(log, secret) {
			t.Errorf("a step read %s:\n%s", secret, log)
		}
	}
	for _, want := range []string{"checkout: actions:", `properties: {`, "variables: leak /projects/p " + leak.ID, "git works", "home writable"} {
		if !strings.Contains(log, want) {
			t.Errorf("a step lacks %q:\n%s", want, log)
		}
	}
	if probes.Load() == 0 {
		t.Errorf("the step's git ls-remote never reached the network:\n%s", log)
	}
}

// TestCancelEndsSandboxedSteps: a cancelled step's whole sandbox goes, the
// script, what it left in the background, and the namespace's first
// process, even when the script ignores SIGTERM.
func TestCancelEndsSandboxedSteps(t *testing.T) {
	f := newFixture(t, actions(`
  sleepy:
    run: |
      sleep 300 &
      echo started
      wait
  stubborn:
    run: |
      trap '' TERM
      sleep 300 &
      echo started
      wait
`), func(e *engine.Engine) { e.Grace = 300 * time.Millisecond })
	for _, action := range []string{"sleepy", "stubborn"} {
		t.Run(action, func(t *testing.T) {
			c := f.run(nil, action, nil, nil)
			testutil.WaitFor(t, "the step to start", func() (bool, string) {
				log := f.log(c)
				return strings.Contains(log, "started"), log
			})
			st := f.steps(c)[0]
			if n := len(processesOf(st.ID)); n < 3 {
				t.Fatalf("the step has %d processes, want its init, shell and sleep", n)
			}
			if _, err := f.store.CancelChange(f.ctx, f.admin, c.ID); err != nil {
				t.Fatal(err)
			}
			f.wait(c, run.StatusCancelled)
			testutil.WaitFor(t, "the step's processes to end", func() (bool, string) {
				left := processesOf(st.ID)
				return len(left) == 0, fmt.Sprint(left)
			})
		})
	}
}

// processesOf lists the live processes (not zombies) whose environment
// names the step.
func processesOf(stepID string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil || !strings.Contains(string(env), "STEWARD_STEP_ID="+stepID+"\x00") {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat"); err == nil && strings.Contains(string(stat), ") Z ") {
			continue
		}
		out = append(out, pid)
	}
	return out
}
