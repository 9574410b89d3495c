package run

import (
	"context"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
)

// Store is the core store with the operations on runs. It embeds the core
// store so that a run operation composes core operations (nodes, events,
// properties) inside its own transaction.
type Store struct {
	*model.Store
	Logs   *LogNotifier // wakes live log followers
	moved  *model.Signal
	queued *model.Signal
}

// New returns the run store over core, waking log followers through logs
// (an in-process notifier when nil).
func New(core *model.Store, logs *LogNotifier) *Store {
	if logs == nil {
		logs = NewLogNotifier()
	}
	return &Store{Store: core, Logs: logs, moved: &model.Signal{}, queued: &model.Signal{}}
}

// Snapshot runs fn with a view whose reads all see one moment of the
// database (see model.Store.Snapshot).
func (s *Store) Snapshot(ctx context.Context, fn func(view *Store) error) error {
	return s.Store.Snapshot(ctx, func(core *model.Store) error {
		return fn(&Store{Store: core, Logs: s.Logs, moved: s.moved, queued: s.queued})
	})
}

// Write is the core store's Write; after a commit it notifies Moved, since
// every write of this package moves a run (a change or a step).
func (s *Store) Write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	err := s.Store.Write(ctx, fn)
	if err == nil {
		s.moved.Notify()
	}
	return err
}

// Moved is notified after every committed write of a run in this process:
// what tests wait on instead of polling (runs moved by other processes do
// not notify it).
func (s *Store) Moved() *model.Signal { return s.moved }

// Queued is notified after a commit in this process queued steps: what the
// engine's dispatch follows (the core Work signal wakes it to start changes).
func (s *Store) Queued() *model.Signal { return s.queued }
