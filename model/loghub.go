package model

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/driver/postgres"
)

// LogSubscription wakes one follower of one change's log. C receives a value
// (coalesced: at most one waits) whenever lines may have been added; the
// follower then reads what is new. Wake-ups can be spurious, never missed
// after Subscribe returned, short of a lost database connection (followers
// also poll slowly for that).
type LogSubscription struct {
	C        <-chan struct{}
	c        chan struct{}
	hub      *logHub
	changeID string
	once     sync.Once
}

// logHub fans notifications out to this process's followers of one database.
// On PostgreSQL it owns the one LISTEN connection of the process, opened
// while anyone follows and closed when the last follower leaves.
type logHub struct {
	key  *sql.DB
	subs map[string]map[*LogSubscription]struct{}
	n    int
	stop context.CancelFunc
	done chan struct{}
}

var (
	// hubsMu guards hubs and every hub's subscribers.
	hubsMu sync.Mutex
	hubs   = map[*sql.DB]*logHub{}
)

// listenerRetry is the pause before the listener reconnects.
const listenerRetry = time.Second

func hubKey(s *Store) *sql.DB {
	sqlDB, _ := s.DB.DB()
	return sqlDB
}

// SubscribeLogLines registers a follower of changeID's log lines. Close it
// when done.
func (s *Store) SubscribeLogLines(changeID string) *LogSubscription {
	c := make(chan struct{}, 1)
	sub := &LogSubscription{C: c, c: c, changeID: changeID}
	key := hubKey(s)
	hubsMu.Lock()
	defer hubsMu.Unlock()
	h := hubs[key]
	if h == nil {
		h = &logHub{key: key, subs: map[string]map[*LogSubscription]struct{}{}}
		hubs[key] = h
	}
	sub.hub = h
	if h.subs[changeID] == nil {
		h.subs[changeID] = map[*LogSubscription]struct{}{}
	}
	h.subs[changeID][sub] = struct{}{}
	h.n++
	if h.n == 1 && s.postgres() {
		if dsn := postgresDSN(s); dsn != "" {
			ctx, cancel := context.WithCancel(context.Background())
			h.stop, h.done = cancel, make(chan struct{})
			go h.listen(ctx, dsn, s.Log)
		} else {
			s.Log.Warn("log followers cannot LISTEN (no connection string); they will poll")
		}
	}
	return sub
}

// Close unregisters the follower; the last one out closes the listener.
func (sub *LogSubscription) Close() {
	sub.once.Do(func() {
		hubsMu.Lock()
		h := sub.hub
		delete(h.subs[sub.changeID], sub)
		if len(h.subs[sub.changeID]) == 0 {
			delete(h.subs, sub.changeID)
		}
		h.n--
		var stop context.CancelFunc
		var done chan struct{}
		if h.n == 0 {
			if hubs[h.key] == h {
				delete(hubs, h.key)
			}
			stop, done = h.stop, h.done
		}
		hubsMu.Unlock()
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

// publishLogLines wakes this process's followers of changeID.
func publishLogLines(s *Store, changeID string) {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	if h := hubs[hubKey(s)]; h != nil {
		for sub := range h.subs[changeID] {
			sub.wake()
		}
	}
}

func (h *logHub) wake(changeID string) {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	for sub := range h.subs[changeID] {
		sub.wake()
	}
}

func (h *logHub) wakeAll() {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	for _, subs := range h.subs {
		for sub := range subs {
			sub.wake()
		}
	}
}

// listen holds a dedicated connection (not one of the pool's: a LISTEN must
// stay on one session) until stopped, reconnecting when it is lost.
func (h *logHub) listen(ctx context.Context, dsn string, log *slog.Logger) {
	defer close(h.done)
	for {
		err := h.listenOnce(ctx, dsn)
		if ctx.Err() != nil {
			return
		}
		log.Warn("log line listener lost its database connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenerRetry):
		}
	}
}

func (h *logHub) listenOnce(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+LogLinesChannel); err != nil {
		return err
	}
	// Lines committed before the LISTEN took effect announced nobody.
	h.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		h.wake(n.Payload)
	}
}

func postgresDSN(s *Store) string {
	if d, ok := s.DB.Dialector.(*postgres.Dialector); ok && d.Config != nil {
		return d.Config.DSN
	}
	return ""
}
