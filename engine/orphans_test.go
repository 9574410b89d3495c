package engine_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/model"
)

// TestLeftoverProcessesOfFinishedStepsAreKilled stands in for what a hard
// kill leaves: a process carrying the id of a step that is over.
func TestLeftoverProcessesOfFinishedStepsAreKilled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, actions("  quick:\n    run: echo done\n"))
	c := f.wait(f.run(nil, "quick", nil, nil), run.StatusSuccess)
	finished := f.steps(c)[0].ID

	start := func(stepID string) *exec.Cmd {
		cmd := exec.Command("sleep", "300")
		cmd.Env = append(os.Environ(), "STEWARD_STEP_ID="+stepID)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	orphan := start(finished)
	unrelated := start(model.NewID()) // no such step: not Steward's to judge

	f.engine.KillOrphans(f.ctx)

	done := make(chan error, 1)
	go func() { done <- orphan.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the leftover process of a finished step is still running")
	}
	if !alive(unrelated.Process.Pid) {
		t.Fatal("a process naming an unknown step was killed")
	}
}
