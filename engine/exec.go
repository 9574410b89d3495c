package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/engine/sandbox"
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
func (e *Engine) execute(ctx context.Context, st *run.Step, c *run.Change, lw stepLog, nudge <-chan struct{}) run.StepResult {
	fail := func(format string, args ...any) run.StepResult {
		msg := fmt.Sprintf(format, args...)
		lw.Line(msg)
		return run.StepResult{Reason: msg}
	}
	if st.Run == nil || *st.Run == "" {
		return run.StepResult{OK: true}
	}
	rc, err := e.Store.ChangeRunContext(ctx, c)
	if err != nil {
		return fail("the step could not be prepared: %s", steward.AsError(err).Detail)
	}
	src, err := e.checkout(ctx, c, rc)
	if err != nil {
		return fail("the step could not be prepared: checking out commit %s failed: %s", *c.CommitSHA, steward.AsError(model.GitError(err, "")).Detail)
	}
	dir := filepath.Join(src, filepath.FromSlash(rc.ActionsDir))
	home := filepath.Join(e.changeDir(c.ID), "home")
	stepDir := filepath.Join(e.changeDir(c.ID), "steps", st.ID)
	for _, d := range []string{home, stepDir} {
		if err := e.ownedDir(d); err != nil {
			return fail("the step could not be prepared: %v", err)
		}
	}
	propsFile, patchFile := filepath.Join(stepDir, "properties.json"), filepath.Join(stepDir, "properties-patch.json")
	props, err := json.Marshal(map[string]any(rc.Properties))
	if err == nil {
		err = e.writeStepFile(stepDir, "properties.json", props)
	}
	if err != nil {
		return fail("the step could not be prepared: writing its properties failed: %v", err)
	}
	if err := e.writeFiles(src, rc.ActionsDir, rc.Properties); err != nil {
		return fail("the step could not be prepared: opschain.files: %v", err)
	}
	if e.Sandbox.Mode() == sandbox.None {
		home = "" // the server's own, as the step shares its access anyway
	}
	env, skipped := stepEnvironment(st, c, rc, propsFile, patchFile, home)
	for _, name := range skipped {
		lw.Line(fmt.Sprintf("environment variable %q from the properties was not set: not a valid variable name, or reserved", name))
	}
	spec := sandbox.Spec{Args: []string{"/bin/sh", "-e", "-c", *st.Run}, Dir: dir, Env: env,
		Expose: []string{src, stepDir, home}}
	res := e.runProcess(ctx, st, spec, lw, nudge)
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
func (e *Engine) runProcess(ctx context.Context, st *run.Step, spec sandbox.Spec, lw stepLog, nudge <-chan struct{}) run.StepResult {
	// The sandbox starts it in its own group, so a stop reaches everything
	// the script started, and kills it if this process dies, so a crashed
	// server leaves no step running that the reaper is about to declare lost.
	// One pipe for stdout and stderr keeps their lines in order. It is an
	// *os.File, so Wait does not wait for it to close: a background process
	// holding it cannot keep the step alive.
	pr, pw, err := os.Pipe()
	if err != nil {
		lw.Line(fmt.Sprintf("the step could not start: %v", err))
		return run.StepResult{Reason: err.Error()}
	}
	spec.Stdout, spec.Stderr = pw, pw
	proc, err := e.Sandbox.Start(spec)
	pw.Close()
	if err != nil {
		pr.Close()
		lw.Line(fmt.Sprintf("the step could not start: %v", err))
		return run.StepResult{Reason: err.Error()}
	}
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(lw, pr); close(copied) }()
	type ending struct {
		exit sandbox.Exit
		err  error
	}
	exited := make(chan ending, 1)
	go func() { x, err := proc.Wait(); exited <- ending{x, err} }()
	pgid := proc.Pid

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
		if status != run.StatusCancelled {
			why = "this worker no longer holds the step (its lease lapsed)"
		}
		stop("cancelled", fmt.Sprintf("%s: stopping its processes (SIGTERM, then SIGKILL after %s)", why, e.Grace))
	}
	var end ending
wait:
	for {
		select {
		case end = <-exited:
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
		return run.StepResult{Reason: fmt.Sprintf("timed out after %ds", st.TimeoutSeconds)}
	case stopped == "cancelled":
		return run.StepResult{Reason: "cancelled"}
	case stopped == "shutdown":
		return run.StepResult{Reason: "the server shut down while the step ran"}
	case end.err != nil:
		lw.Line(fmt.Sprintf("the step could not run: %v", end.err))
		return run.StepResult{Reason: end.err.Error()}
	case !end.exit.OK():
		lw.Line(fmt.Sprintf("the step failed: %s", end.exit))
		return run.StepResult{Reason: end.exit.String()}
	}
	return run.StepResult{OK: true}
}

// readPatch reads what the step wrote to $STEWARD_PROPERTIES_PATCH (nil when
// it wrote nothing).
func readPatch(path string) ([]byte, error) {
	// The step owns the folder: a link it left there must not make this
	// process read a file of its choosing.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", filepath.Base(path))
	}
	return io.ReadAll(io.LimitReader(f, maxPatchRead))
}
