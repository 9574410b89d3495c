package engine_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
)

// TestCancelKillsProcesses cancels changes whose step sleeps (one ignoring
// SIGTERM, so only SIGKILL ends it) and checks that the step's processes,
// the shell and what it started, are really gone.
func TestCancelKillsProcesses(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, actions(fmt.Sprintf(`
  sleepy:
    run: |
      sleep 300 &
      echo $! > %[1]s/$STEWARD_CHANGE_ID.child
      echo $$ > %[1]s/$STEWARD_CHANGE_ID.sh
      wait
  stubborn:
    run: |
      trap '' TERM
      sleep 300 &
      echo $! > %[1]s/$STEWARD_CHANGE_ID.child
      echo $$ > %[1]s/$STEWARD_CHANGE_ID.sh
      wait
  after:
    run: echo never
  sleepy-then:
    steps: [sleepy, after]
`, dir)), enginetest.Unisolated, func(e *engine.Engine) { e.Grace = 300 * time.Millisecond })

	for _, action := range []string{"sleepy-then", "stubborn"} {
		t.Run(action, func(t *testing.T) {
			c := f.run(nil, action, nil, nil)
			pids := []int{waitPid(t, filepath.Join(dir, c.ID+".sh")), waitPid(t, filepath.Join(dir, c.ID+".child"))}
			got, err := f.store.CancelChange(f.ctx, f.admin, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != run.StatusCancelled || got.FinishedAt == nil {
				t.Errorf("cancelled change = %s, finished %v", got.Status, got.FinishedAt)
			}
			for _, st := range f.steps(c) {
				if st.Status != run.StatusCancelled {
					t.Errorf("step %s is %s after cancel", st.Action, st.Status)
				}
			}
			for _, pid := range pids {
				testutil.WaitFor(t, fmt.Sprintf("process %d to end", pid), func() (bool, string) {
					return !alive(pid), "still alive"
				})
			}
			testutil.WaitFor(t, "the cancel to be logged", func() (bool, string) {
				log := f.log(c)
				return strings.Contains(log, "the step was cancelled"), log
			})
			evs := f.events(c)
			if !contains(evs, "api:changes:cancel") || !contains(evs, "api:steps:cancel") {
				t.Errorf("events = %v", evs)
			}
			expectKind(t, "cancel a cancelled change", cancelErr(f, c), steward.KindInvalid)
		})
	}
}

func cancelErr(f *fixture, c *run.Change) error {
	_, err := f.store.CancelChange(f.ctx, f.admin, c.ID)
	return err
}

// TestTimeout errors a step that runs longer than its action's timeout.
func TestTimeout(t *testing.T) {
	f := newFixture(t, actions(`
  slow:
    timeout: 1s
    run: echo started; sleep 60
`))
	start := time.Now()
	c := f.run(nil, "slow", nil, nil)
	f.wait(c, run.StatusError)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a 1s timeout took %s", took)
	}
	if log := f.log(c); !strings.Contains(log, "started") || !strings.Contains(log, "the step timed out after 1s") {
		t.Errorf("log:\n%s", log)
	}
}

// waitPid waits for a step to write its pid to path.
func waitPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testutil.WaitFor(t, "pid file "+path, func() (bool, string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return false, err.Error()
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil, string(b)
	})
	return pid
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
