// Package enginetest gives tests a running engine. It is apart from
// testutil because the engine's own tests use testutil.
package enginetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/engine/sandbox"
	"github.com/stewardhq/steward/internal/testutil"
)

// NewServer is testutil.NewServer with an engine running changes in the
// test process; it stops (killing what still runs) when the test ends.
func NewServer(t testing.TB) *testutil.Server {
	t.Helper()
	s := testutil.NewServer(t)
	s.API.Metrics.WatchQueue(engine.QueueMetrics(s.Store))
	Start(t, s.Store, func(e *engine.Engine) { e.Metrics = s.API.Metrics })
	return s
}

// Unisolated runs steps without a sandbox: for tests whose scripts leave
// evidence in the test's own temporary folder, which a sandboxed step can
// neither see nor write. Isolation itself is tested in engine/sandbox and
// by the tests that keep the default.
func Unisolated(e *engine.Engine) { e.Sandbox = sandbox.Open(sandbox.Config{Mode: sandbox.None}) }

// Start runs an engine on store until the test ends, with a fast tick
// and a short kill grace; configure may change any setting before it starts.
func Start(t testing.TB, store *run.Store, configure ...func(*engine.Engine)) *engine.Engine {
	t.Helper()
	e := &engine.Engine{Store: store, Log: store.Log, Workers: 4, WorkDir: filepath.Join(t.TempDir(), "work"),
		Tick: 50 * time.Millisecond, Grace: 2 * time.Second}
	for _, f := range configure {
		f(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		cancel()
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() { cancel(); e.Wait() })
	return e
}
