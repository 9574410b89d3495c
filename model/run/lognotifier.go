package run

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// LogNotifier wakes this process's followers of a change's log when lines
// may have been added. Appends in this process publish to it directly; with
// PostgreSQL replicas, appends elsewhere NOTIFY at commit, and a notifier
// built with NewPostgresLogNotifier LISTENs for them on a connection of its
// own (never one of the pool's: a LISTEN must stay on one session), opened
// while anyone follows and closed when the last follower leaves.
type LogNotifier struct {
	dsn string // "" : this process's appends only
	log *slog.Logger

	mu   sync.Mutex // guards everything below and every subscription set
	subs map[string]map[*LogSubscription]struct{}
	n    int
	stop context.CancelFunc
	done chan struct{}

	copier logCopier // PostgreSQL: the connection appends COPY on
}

// NewLogNotifier wakes followers of this process's appends: all there is
// with one process on SQLite.
func NewLogNotifier() *LogNotifier {
	return &LogNotifier{subs: map[string]map[*LogSubscription]struct{}{}}
}

// NewPostgresLogNotifier also wakes followers of lines other replicas
// append, listening on a connection to dsn (a postgres:// URL).
func NewPostgresLogNotifier(dsn string, log *slog.Logger) *LogNotifier {
	n := NewLogNotifier()
	n.dsn, n.log = dsn, log
	if n.log == nil {
		n.log = slog.Default()
	}
	return n
}

// LogSubscription wakes one follower of one change's log. C receives a value
// (coalesced: at most one waits) whenever lines may have been added; the
// follower then reads what is new. Wake-ups can be spurious, never missed
// after Subscribe returned, short of a lost database connection (followers
// also poll slowly for that).
type LogSubscription struct {
	C        <-chan struct{}
	c        chan struct{}
	n        *LogNotifier
	changeID string
	once     sync.Once
}

// listenerRetry is the pause before the listener reconnects.
const listenerRetry = time.Second

// Subscribe registers a follower of changeID's log lines. Close it when done.
func (n *LogNotifier) Subscribe(changeID string) *LogSubscription {
	c := make(chan struct{}, 1)
	sub := &LogSubscription{C: c, c: c, n: n, changeID: changeID}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[changeID] == nil {
		n.subs[changeID] = map[*LogSubscription]struct{}{}
	}
	n.subs[changeID][sub] = struct{}{}
	n.n++
	if n.n == 1 && n.dsn != "" {
		ctx, cancel := context.WithCancel(context.Background())
		n.stop, n.done = cancel, make(chan struct{})
		go n.listen(ctx, n.done)
	}
	return sub
}

// Close unregisters the follower; the last one out closes the listener.
func (sub *LogSubscription) Close() {
	sub.once.Do(func() {
		n := sub.n
		n.mu.Lock()
		delete(n.subs[sub.changeID], sub)
		if len(n.subs[sub.changeID]) == 0 {
			delete(n.subs, sub.changeID)
		}
		n.n--
		var stop context.CancelFunc
		var done chan struct{}
		if n.n == 0 {
			stop, done = n.stop, n.done
			n.stop, n.done = nil, nil
		}
		n.mu.Unlock()
		if stop != nil {
			stop()
			<-done
		}
	})
}

func (sub *LogSubscription) wake() {
	select {
	case sub.c <- struct{}{}:
	default: // one wake-up is already pending
	}
}

// Publish wakes this process's followers of changeID.
func (n *LogNotifier) Publish(changeID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for sub := range n.subs[changeID] {
		sub.wake()
	}
}

func (n *LogNotifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, subs := range n.subs {
		for sub := range subs {
			sub.wake()
		}
	}
}

// listen holds the LISTEN connection until stopped, reconnecting when it
// is lost.
func (n *LogNotifier) listen(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		err := n.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("log line listener lost its database connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenerRetry):
		}
	}
}

func (n *LogNotifier) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, n.dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+LogLinesChannel); err != nil {
		return err
	}
	// Lines committed before the LISTEN took effect announced nobody.
	n.wakeAll()
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		n.Publish(note.Payload)
	}
}

// SubscribeLogLines registers a follower of changeID's log lines with the
// store's notifier. Close it when done.
func (s *Store) SubscribeLogLines(changeID string) *LogSubscription {
	return s.Logs.Subscribe(changeID)
}
