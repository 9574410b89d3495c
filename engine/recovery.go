package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
)

// Work trees. Each change this process runs a step of gets
// <WorkDir>/<change id>/: src/ (its commit, materialised once from the
// mirror and shared by its steps, so files one step writes are there for
// the next) and steps/<step id>/ (properties and patch files). The folder
// goes when the change has finished, and a crashed process's leftovers go
// the same way when it restarts.

func (e *Engine) changeDir(changeID string) string { return filepath.Join(e.WorkDir, changeID) }

// checkout materialises the change's commit once per change and process.
// The tree is written beside its final name and renamed into place, so a
// crash never leaves a half-written checkout that looks complete.
func (e *Engine) checkout(ctx context.Context, c *run.Change, rc *run.RunContext) (string, error) {
	dir := filepath.Join(e.changeDir(c.ID), "src")
	e.mu.Lock()
	lock, ok := e.checkouts[c.ID]
	if !ok {
		lock = &sync.Mutex{}
		e.checkouts[c.ID] = lock
	}
	e.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	tmp := dir + ".partial-" + hex.EncodeToString(b)
	if err := e.Store.Git.Materialise(ctx, rc.Source.Remote, rc.Source.CommitSHA, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := e.giveTree(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}

// cleanWorkDirs removes the work trees of changes that have finished and
// that no step of this process still uses.
func (e *Engine) cleanWorkDirs(ctx context.Context) {
	entries, err := os.ReadDir(e.WorkDir)
	if err != nil {
		return
	}
	ids := make([]string, 0, len(entries))
	for _, ent := range entries {
		if ent.IsDir() {
			ids = append(ids, ent.Name())
		}
	}
	done, err := e.Store.FinishedChangeIDs(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			e.Log.Error("listing finished changes failed", "err", err)
		}
		return
	}
	e.mu.Lock()
	inUse := map[string]bool{}
	for _, r := range e.running {
		inUse[r.changeID] = true
	}
	e.mu.Unlock()
	for _, id := range done {
		if inUse[id] || !steward.IsID(id) {
			continue
		}
		if err := os.RemoveAll(e.changeDir(id)); err != nil {
			e.Log.Warn("removing a finished change's work tree failed", "change", id, "err", err)
			continue
		}
		e.mu.Lock()
		delete(e.checkouts, id)
		e.mu.Unlock()
	}
}
