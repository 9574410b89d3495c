package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stewardhq/steward/model"
)

// stepLog is where a step's output and the engine's notes about it go.
type stepLog interface {
	io.Writer
	Line(msg string)
}

// maxPatchRead bounds how much of $STEWARD_PROPERTIES_PATCH is read; the
// store refuses anything over its own limit with a clear message.
const maxPatchRead = 1<<20 + 1

// execute runs a claimed run step to its end: `sh -e -c <run>` in the
// change's checkout, in its own process group, its output in lw. The step's
// lease is renewed while it runs; when the step is no longer ours
// (cancelled, or reaped), or it times out, or the server stops, the group
// gets SIGTERM and, after the grace period, SIGKILL.
func (e *Engine) execute(ctx context.Context, st *model.Step, c *model.Change, lw stepLog, nudge <-chan struct{}) model.StepResult {
	fail := func(format string, args ...any) model.StepResult {
		msg := fmt.Sprintf(format, args...)
		lw.Line(msg)
		return model.StepResult{Reason: msg}
	}
	if st.Run == nil || *st.Run == "" {
		return model.StepResult{OK: true}
	}
	rc, err := e.Store.ChangeRunContext(ctx, c)
	if err != nil {
		return fail("the step could not be prepared: %s", model.AsError(err).Detail)
	}
	src, err := e.checkout(ctx, c, rc)
	if err != nil {
		return fail("the step could not be prepared: checking out commit %s failed: %s", *c.CommitSHA, model.AsError(model.GitError(err, "")).Detail)
	}
	dir := filepath.Join(src, filepath.FromSlash(rc.ActionsDir))
	stepDir := filepath.Join(e.changeDir(c.ID), "steps", st.ID)
	if err := os.MkdirAll(stepDir, 0o700); err != nil {
		return fail("the step could not be prepared: %v", err)
	}
	propsFile, patchFile := filepath.Join(stepDir, "properties.json"), filepath.Join(stepDir, "properties-patch.json")
	props, err := json.Marshal(map[string]any(rc.Properties))
	if err == nil {
		err = os.WriteFile(propsFile, props, 0o600)
	}
	if err != nil {
		return fail("the step could not be prepared: writing its properties failed: %v", err)
	}
	if err := writeFiles(dir, rc.Properties); err != nil {
		return fail("the step could not be prepared: opschain.files: %v", err)
	}
	env, skipped := stepEnvironment(st, c, rc, propsFile, patchFile)
	for _, name := range skipped {
		lw.Line(fmt.Sprintf("environment variable %q from the properties was not set: not a valid variable name, or reserved", name))
	}
	res := e.runProcess(ctx, st, dir, env, lw, nudge)
	if !res.OK {
		return res
	}
	patch, err := readPatch(patchFile)
	if err != nil {
		return fail("the step succeeded but its properties patch could not be read: %v", err)
	}
	res.PropertyPatch = patch
	return res
}

// runProcess starts the script and supervises it until it exits.
func (e *Engine) runProcess(ctx context.Context, st *model.Step, dir string, env []string, lw stepLog, nudge <-chan struct{}) model.StepResult {
	cmd := exec.Command("/bin/sh", "-e", "-c", *st.Run)
	cmd.Dir, cmd.Env = dir, env
	// Its own group so a stop reaches everything the script started; and
	// killed if this process dies, so a crashed server leaves no step
	// running that the reaper is about to declare lost.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// One pipe for stdout and stderr keeps their lines in order. It is an
	// *os.File, so Wait does not wait for it to close: a background process
	// holding it cannot keep the step alive.
	pr, pw, err := os.Pipe()
	if err != nil {
		lw.Line(fmt.Sprintf("the step could not start: %v", err))
		return model.StepResult{Reason: err.Error()}
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		lw.Line(fmt.Sprintf("the step could not start: %v", err))
		return model.StepResult{Reason: err.Error()}
	}
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(lw, pr); close(copied) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pgid := cmd.Process.Pid

	renew := time.NewTicker(e.Lease / 3)
	defer renew.Stop()
	var timeout <-chan time.Time
	if st.TimeoutSeconds > 0 {
		t := time.NewTimer(time.Duration(st.TimeoutSeconds) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	var stopped string // why the engine stopped the process, "" if it did not
	var kill <-chan time.Time
	stop := func(why, note string) {
		if stopped != "" {
			return
		}
		stopped = why
		lw.Line(note)
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		kill = time.After(e.Grace)
	}
	lost := func(status string) {
		why := "the step was cancelled"
		if status != model.StatusCancelled {
			why = "this worker no longer holds the step (its lease lapsed)"
		}
		stop("cancelled", fmt.Sprintf("%s: stopping its processes (SIGTERM, then SIGKILL after %s)", why, e.Grace))
	}
	var waitErr error
wait:
	for {
		select {
		case waitErr = <-exited:
			break wait
		case <-renew.C:
			if held, err := e.Store.RenewLease(context.WithoutCancel(ctx), st.ID, e.Owner, e.Lease); err == nil && !held {
				_, status, _ := e.Store.StepHeld(context.WithoutCancel(ctx), st.ID, e.Owner)
				lost(status)
			}
		case <-nudge:
			if held, status, err := e.Store.StepHeld(context.WithoutCancel(ctx), st.ID, e.Owner); err == nil && !held {
				lost(status)
			}
		case <-timeout:
			stop("timeout", fmt.Sprintf("the step timed out after %s: stopping its processes", time.Duration(st.TimeoutSeconds)*time.Second))
		case <-ctx.Done():
			stop("shutdown", "the server is shutting down: stopping the step's processes")
		case <-kill:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	// Whatever the script left behind in its group goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		pr.Close() // a process that left the group still holds the pipe
		<-copied
	}
	pr.Close()
	switch {
	case stopped == "timeout":
		return model.StepResult{Reason: fmt.Sprintf("timed out after %ds", st.TimeoutSeconds)}
	case stopped == "cancelled":
		return model.StepResult{Reason: "cancelled"}
	case stopped == "shutdown":
		return model.StepResult{Reason: "the server shut down while the step ran"}
	case waitErr != nil:
		lw.Line(fmt.Sprintf("the step failed: %s", describeExit(waitErr)))
		return model.StepResult{Reason: describeExit(waitErr)}
	}
	return model.StepResult{OK: true}
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	return err.Error()
}

// readPatch reads what the step wrote to $STEWARD_PROPERTIES_PATCH (nil when
// it wrote nothing).
func readPatch(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxPatchRead))
}
