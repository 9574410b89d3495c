package engine

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"syscall"
)

// A step's shell gets SIGKILL when the server dies (Pdeathsig), but what the
// script started in the background does not: after a hard kill such
// processes outlive their step. Every process a step starts inherits
// STEWARD_STEP_ID, so the engine finds them in /proc and ends those whose
// step is no longer running. Steps running under any replica are untouched.

// stepProcesses maps step ids to the local processes whose environment names them.
func stepProcesses() map[string][]int {
	out := map[string][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	self := os.Getpid()
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if id, ok := bytes.CutPrefix(kv, []byte("STEWARD_STEP_ID=")); ok {
				out[string(id)] = append(out[string(id)], pid)
				break
			}
		}
	}
	return out
}

// killOrphans ends local processes left behind by steps that are over.
func (e *Engine) killOrphans(ctx context.Context) {
	procs := stepProcesses()
	if len(procs) == 0 {
		return
	}
	ids := make([]string, 0, len(procs))
	for id := range procs {
		ids = append(ids, id)
	}
	over, err := e.Store.StepsNotRunning(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			e.Log.Error("looking up steps of leftover processes failed", "err", err)
		}
		return
	}
	for _, id := range over {
		for _, pid := range procs[id] {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				e.Log.Warn("killed a process left behind by a step that is over", "step_id", id, "pid", pid)
			}
		}
	}
}
