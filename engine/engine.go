// Package engine runs changes: it starts them as their node's queue allows,
// claims their queued steps from the database (the steps table is the work
// queue), runs each step's script in a checkout of the change's commit, and
// ends steps whose worker was lost. Every decision is a model operation in
// one transaction; the engine only decides when to call them.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/metrics"

	"github.com/stewardhq/steward/engine/sandbox"
)

// Defaults for the zero values of Engine's settings.
const (
	DefaultWorkers = 4
	DefaultLease   = 30 * time.Second
	DefaultTick    = time.Second
	DefaultGrace   = 10 * time.Second
)

// Engine runs steps in this process. Any number of processes may run one
// against the same database: claims are exclusive and leases expire.
type Engine struct {
	Store   *run.Store
	Log     *slog.Logger
	Workers int    // steps run at once by this process (STEWARD_WORKERS)
	WorkDir string // checkouts and step files, a folder per change
	Owner   string // names this process on the leases it holds; unique per process
	// Lease is how long a claim holds without renewal; it is renewed every
	// third of it, and a lapsed lease means the worker was lost.
	Lease time.Duration
	// Tick is how often the loops look for work nobody woke them for
	// (changes created on another replica, lapsed leases).
	Tick time.Duration
	// Grace is how long a cancelled or timed-out step's processes have
	// between SIGTERM and SIGKILL.
	Grace time.Duration
	// Sandbox runs the steps' scripts; by default in namespaces that hide
	// WorkDir but for the step's own folders. One that is unavailable
	// makes every step fail with the reason instead of running unisolated.
	Sandbox *sandbox.Sandbox
	// Metrics counts claims, steps, log lines and lapsed leases (none when nil).
	Metrics *metrics.Metrics

	stop         context.CancelFunc
	wakeAdvance  chan struct{}
	wakeDispatch chan struct{}
	slotFreed    chan struct{} // a worker came free
	slots        chan struct{} // one per busy worker
	wg           sync.WaitGroup

	mu        sync.Mutex
	running   map[string]*runningStep // by step id
	checkouts map[string]*sync.Mutex  // by change id
}

// runningStep is a step this process is executing.
type runningStep struct {
	changeID string
	nudge    chan struct{} // "look again": a cancel may have happened
}

// Start checks the settings and starts the loops; they stop when ctx ends
// or at Stop (Wait waits for that).
func (e *Engine) Start(ctx context.Context) error {
	if e.Store == nil || e.Store.Git == nil || e.WorkDir == "" {
		return errors.New("engine: a Store with Git mirrors, and a WorkDir, are required")
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	if e.Workers <= 0 {
		e.Workers = DefaultWorkers
	}
	if e.Lease <= 0 {
		e.Lease = DefaultLease
	}
	if e.Tick <= 0 {
		e.Tick = DefaultTick
	}
	if e.Grace <= 0 {
		e.Grace = DefaultGrace
	}
	if e.Owner == "" {
		e.Owner = NewOwner()
	}
	// Absolute, so that steps find their folders whatever the sandbox
	// does to the server's working directory.
	abs, err := filepath.Abs(e.WorkDir)
	if err != nil {
		return fmt.Errorf("engine: work dir: %w", err)
	}
	e.WorkDir = abs
	if err := os.MkdirAll(e.WorkDir, 0o700); err != nil {
		return fmt.Errorf("engine: work dir: %w", err)
	}
	if e.Sandbox == nil {
		e.Sandbox = sandbox.Open(sandbox.Config{Mode: sandbox.Namespace, Hide: []string{e.WorkDir}})
	}
	e.wakeAdvance = make(chan struct{}, 1)
	e.wakeDispatch = make(chan struct{}, 1)
	e.slotFreed = make(chan struct{}, 1)
	e.slots = make(chan struct{}, e.Workers)
	e.running = map[string]*runningStep{}
	e.checkouts = map[string]*sync.Mutex{}
	ctx, e.stop = context.WithCancel(ctx)
	// New changes and ended ones are picked up at once: the store notifies
	// its Work signal, which wakes the advance loop (and the running steps,
	// which may have been cancelled); queued steps notify the run store's
	// Queued signal, which wakes the workers. Each look costs statements, so
	// neither loop wakes for what only the other can act on.
	work, unsubscribeWork := e.Store.Work().Subscribe()
	queued, unsubscribeQueued := e.Store.Queued().Subscribe()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer unsubscribeWork()
		defer unsubscribeQueued()
		for {
			select {
			case <-ctx.Done():
				return
			case <-work:
				poke(e.wakeAdvance)
				e.nudgeRunning()
			case <-queued:
				poke(e.wakeDispatch)
			}
		}
	}()
	e.wg.Add(2)
	go func() { defer e.wg.Done(); e.advanceLoop(ctx) }()
	go func() { defer e.wg.Done(); e.dispatchLoop(ctx) }()
	e.Log.Info("engine started", "owner", e.Owner, "workers", e.Workers, "work_dir", e.WorkDir, "step_isolation", e.Sandbox.Describe())
	return nil
}

// Wait blocks until the loops and every step this process runs have
// stopped, after Start's context ended or Stop.
func (e *Engine) Wait() { e.wg.Wait() }

// Stop ends the loops, stops the steps this process runs (they are
// recorded as errors) and waits for all of it.
func (e *Engine) Stop() {
	if e.stop != nil {
		e.stop()
	}
	e.wg.Wait()
}

// Wake makes the loops look now, and the running steps check whether they
// were cancelled. It never blocks.
func (e *Engine) Wake() {
	poke(e.wakeAdvance)
	poke(e.wakeDispatch)
	e.nudgeRunning()
}

// nudgeRunning makes the running steps check whether they were cancelled.
func (e *Engine) nudgeRunning() {
	e.mu.Lock()
	for _, r := range e.running {
		poke(r.nudge)
	}
	e.mu.Unlock()
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // one wake-up is already waiting
	}
}

// NewOwner names a process for its leases: host, pid and a random suffix,
// so a restarted process never takes over its predecessor's leases.
func NewOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// advanceLoop starts changes that wait to start, ends steps whose lease
// lapsed, and removes the work trees of finished changes.
func (e *Engine) advanceLoop(ctx context.Context) {
	t := time.NewTicker(e.Tick)
	defer t.Stop()
	var lastReap, lastClean time.Time
	for {
		e.advanceWaiting(ctx)
		if e.Store.Now().Sub(lastReap) >= e.Tick {
			if n, err := e.Store.ReapExpiredLeases(ctx); err != nil && ctx.Err() == nil {
				e.Log.Error("ending steps of lost workers failed", "err", err)
			} else if n > 0 {
				e.Metrics.LeasesLapsed(n)
				e.Log.Warn("ended steps whose worker was lost", "steps", n)
			}
			lastReap = e.Store.Now()
		}
		if e.Store.Now().Sub(lastClean) >= 10*e.Tick {
			e.cleanWorkDirs(ctx)
			e.killOrphans(ctx)
			lastClean = e.Store.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wakeAdvance:
		case <-t.C:
		}
	}
}

// advanceWaiting gives every change that has not started a chance to, and
// moves workflow runs on; both are listed in one statement.
func (e *Engine) advanceWaiting(ctx context.Context) {
	changes, runs, err := e.Store.AdvanceWork(ctx, 1000)
	if err != nil {
		if ctx.Err() == nil {
			e.Log.Error("listing changes to start and workflow runs to advance failed", "err", err)
		}
		return
	}
	for _, c := range changes {
		// A change that starts with a worker free here has its first step
		// claimed as it starts: no hop through the queue.
		var claim *run.Claim
		if c.Status == run.StatusInitializing {
			select {
			case e.slots <- struct{}{}:
				claim = &run.Claim{Owner: e.Owner, Lease: e.Lease}
			default:
			}
		}
		st, ch, err := e.Store.StartWaiting(ctx, c, claim)
		if err != nil && ctx.Err() == nil {
			e.Log.Error("advancing a change failed", "change", c.ID, "err", err)
		}
		switch {
		case st != nil:
			e.Metrics.StepClaimed(0)
			e.launch(ctx, st, ch)
		case claim != nil:
			<-e.slots
			poke(e.slotFreed)
		}
	}
	// Runs have no worker: their steps follow changes and child runs.
	for _, id := range runs {
		if err := e.Store.AdvanceWorkflowRun(ctx, id); err != nil && ctx.Err() == nil {
			e.Log.Error("advancing a workflow run failed", "workflow_run", id, "err", err)
		}
	}
}
