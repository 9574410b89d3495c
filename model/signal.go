package model

import "sync"

// Signal tells its subscribers that something happened, without saying
// what: each subscriber's channel holds at most one pending wake-up, so a
// burst of notifications costs a slow subscriber one look. Services
// subscribe instead of the store calling into them. The zero value is ready.
type Signal struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe returns a channel woken after each Notify, and the function
// that unsubscribes it.
func (g *Signal) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	g.mu.Lock()
	if g.subs == nil {
		g.subs = map[chan struct{}]struct{}{}
	}
	g.subs[ch] = struct{}{}
	g.mu.Unlock()
	return ch, func() {
		g.mu.Lock()
		delete(g.subs, ch)
		g.mu.Unlock()
	}
}

// Notify wakes every subscriber; it never blocks.
func (g *Signal) Notify() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ch := range g.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
