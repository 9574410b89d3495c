package run

import (
	"context"

	"github.com/stewardhq/steward/model"
)

// Store is the core store with the operations on runs. It embeds the core
// store so that a run operation composes core operations (nodes, events,
// properties) inside its own transaction.
type Store struct {
	*model.Store
	Logs *LogNotifier // wakes live log followers
}

// New returns the run store over core, waking log followers through logs
// (an in-process notifier when nil).
func New(core *model.Store, logs *LogNotifier) *Store {
	if logs == nil {
		logs = NewLogNotifier()
	}
	return &Store{Store: core, Logs: logs}
}

// Snapshot runs fn with a view whose reads all see one moment of the
// database (see model.Store.Snapshot).
func (s *Store) Snapshot(ctx context.Context, fn func(view *Store) error) error {
	return s.Store.Snapshot(ctx, func(core *model.Store) error { return fn(&Store{Store: core, Logs: s.Logs}) })
}
