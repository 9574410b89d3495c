package engine

import "context"

// KillOrphans runs one sweep for leftover step processes.
func (e *Engine) KillOrphans(ctx context.Context) { e.killOrphans(ctx) }
