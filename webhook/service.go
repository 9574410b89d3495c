package webhook

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stewardhq/steward/model"
	whmodel "github.com/stewardhq/steward/model/webhook"
)

// Defaults for the zero values of Service's settings.
const (
	DefaultTimeout = 10 * time.Second
	// DefaultWorkers: a local receiver answers in well under a millisecond,
	// so the service is bound by its database writes, and those are cheaper
	// per delivery the larger the batch each cycle records and claims.
	DefaultWorkers  = 64
	DefaultLease    = time.Minute
	DefaultInterval = 30 * time.Second
	// DefaultBackoffBase is the first retry's delay; each failure doubles
	// it, up to DefaultBackoffMax, with jitter.
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffMax  = time.Hour
)

// Service sends the outbox. Any number of processes may run one against
// the same database: each delivery is claimed by one at a time. It wakes
// when an event transaction wrote deliveries (the store's Outbox signal in
// this process; LISTEN on PostgreSQL for the others) and when the earliest
// retry comes due; Interval is only the safety net for a lost notification.
type Service struct {
	Store *whmodel.Store
	Log   *slog.Logger
	// Render is the body of an event's delivery: its JSON:API document, the
	// one GET /api/events/{id} answers (the handler's renderer, passed in).
	Render func(*model.Event) ([]byte, error)
	// Timeout bounds one attempt (connect to last byte); 2xx within it is success.
	Timeout time.Duration
	// Client sends the attempts; by default one that checks every address
	// it dials against Store.Allow (see client).
	Client *http.Client
	// Workers is how many attempts run at once.
	Workers int
	// Lease is how long a claim holds: a delivery whose holder died is
	// tried again after it. Keep it well above Timeout.
	Lease time.Duration
	// Interval is the longest the service sleeps without being woken.
	Interval time.Duration
	// ListenDSN is a postgres:// URL to LISTEN on for other replicas'
	// deliveries ("" on SQLite, or to rely on this process's own events).
	ListenDSN string
	// Backoff is the delay before attempt n+1 after n failures.
	Backoff func(n int) time.Duration

	attempted model.Signal // after every finished attempt: what tests wait on
	kick      chan struct{}
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// Attempted is notified after every attempt this service finished.
func (s *Service) Attempted() *model.Signal { return &s.attempted }

// Wake makes the service look for due deliveries now (tests call it after
// moving the clock on).
func (s *Service) Wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) defaults() error {
	if s.Store == nil || s.Render == nil {
		return errors.New("webhook delivery: a Store and a Render function are required")
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Client == nil {
		if s.Workers <= 0 {
			s.Workers = DefaultWorkers
		}
		s.Client = client(s.Store.Allow, s.Timeout, s.Workers)
	}
	if s.Workers <= 0 {
		s.Workers = DefaultWorkers
	}
	if s.Lease <= 0 {
		s.Lease = DefaultLease
	}
	if s.Lease < 2*s.Timeout {
		s.Lease = 2 * s.Timeout
	}
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Backoff == nil {
		s.Backoff = Backoff
	}
	if s.kick == nil {
		s.kick = make(chan struct{}, 1)
	}
	return nil
}

// Backoff is the default retry delay after n failures: 5 s doubled each
// time up to an hour, with equal jitter (between half and all of it), so
// that receivers coming back are not hit by every sender at once.
func Backoff(n int) time.Duration {
	d := DefaultBackoffBase
	for i := 1; i < n && d < DefaultBackoffMax; i++ {
		d *= 2
	}
	d = min(d, DefaultBackoffMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Start checks the settings and starts the loop; it stops when ctx ends or
// at Stop.
func (s *Service) Start(ctx context.Context) error {
	if err := s.defaults(); err != nil {
		return err
	}
	ctx, s.stop = context.WithCancel(ctx)
	if s.ListenDSN != "" {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.listen(ctx) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.loop(ctx) }()
	s.Log.Info("webhook delivery started", "workers", s.Workers, "timeout", s.Timeout, "listen", s.ListenDSN != "")
	return nil
}

// Stop ends the loop and waits for the attempts in flight (each bounded by
// Timeout).
func (s *Service) Stop() {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

// recordDelay is the longest a finished attempt waits to be recorded with
// others while attempts are still in flight.
const recordDelay = 20 * time.Millisecond

func (s *Service) loop(ctx context.Context) {
	wake, unsubscribe := s.Store.Outbox().Subscribe()
	defer unsubscribe()
	results := make(chan whmodel.Finished, s.Workers)
	token := model.NewID()
	busy := 0 // attempts in flight
	var inflight sync.WaitGroup
	defer inflight.Wait()
	var done []whmodel.Finished
	var firstDone time.Time // when the oldest of done finished
	take := func(f whmodel.Finished) {
		busy--
		if len(done) == 0 {
			firstDone = time.Now()
		}
		done = append(done, f)
	}
	look := true            // deliveries may be due
	var idleUntil time.Time // while not looking: when the next retry is due (zero: read it)
	for {
		// Take every finished attempt that has arrived.
	drain:
		for {
			select {
			case f := <-results:
				take(f)
			default:
				break drain
			}
		}
		if ctx.Err() != nil {
			return // attempts not recorded come back when their lease ends
		}
		// One transaction records what finished and claims for the free
		// workers. With a backlog it waits for half of them to be free, and
		// finished attempts wait to be recorded together (half the workers'
		// worth, or recordDelay), so that each commit carries a batch, at a
		// sustained rate as well as flat out: paced, the next event's claim
		// carries the last one's attempts, one commit per event, not two.
		free := s.Workers - busy
		limit := 0
		if look && free >= (s.Workers+1)/2 {
			limit = free
		}
		record := len(done) > 0 && (len(done) >= (s.Workers+1)/2 || time.Since(firstDone) >= recordDelay)
		if record || limit > 0 {
			claimed, err := s.Store.FinishAndClaim(context.WithoutCancel(ctx), done, token, s.Lease, limit)
			if err != nil {
				s.Log.Error("recording and claiming webhook deliveries failed", "attempts", len(done), "err", err)
			}
			if s.logFailures(done) {
				idleUntil = time.Time{} // a retry was scheduled
			}
			if len(done) > 0 {
				s.attempted.Notify()
			}
			done = done[:0]
			for _, m := range s.prepare(claimed) {
				busy++
				inflight.Add(1)
				go func() {
					defer inflight.Done()
					results <- whmodel.Finished{Claimed: m.c, Result: s.send(ctx, m)}
				}()
			}
			if limit > 0 {
				look, idleUntil = len(claimed) == limit, time.Time{}
				if err == nil && look {
					continue // more may be due
				}
				if err != nil {
					look = false // look again in a second, not in a hot loop
				}
			}
		}
		// Sleep until woken, an attempt finishes, the next retry is due
		// (when not looking) or the oldest finished attempt must be recorded.
		timed, wait := false, time.Duration(0)
		if !look {
			if idleUntil.IsZero() {
				idleUntil = time.Now().Add(s.untilNext(ctx))
			}
			timed, wait = true, time.Until(idleUntil)
		}
		if len(done) > 0 {
			if d := recordDelay - time.Since(firstDone); !timed || d < wait {
				timed, wait = true, d
			}
		}
		var timer <-chan time.Time
		var t *time.Timer
		if timed {
			t = time.NewTimer(max(wait, 0))
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case f := <-results:
			take(f)
		case <-wake:
			look = true
		case <-s.kick:
			look = true
		case <-timer:
			if !look && !time.Now().Before(idleUntil) {
				look, idleUntil = true, time.Time{}
			}
		}
		if t != nil {
			t.Stop()
		}
	}
}

// logFailures logs the failed attempts of done and says whether there were any.
func (s *Service) logFailures(done []whmodel.Finished) (failed bool) {
	for _, f := range done {
		if !f.Result.OK {
			failed = true
			s.Log.Warn("webhook delivery failed", "delivery", f.Claimed.ID, "webhook", f.Claimed.WebhookID,
				"attempt", f.Claimed.Attempts+1, "err", *f.Result.Attempt.Error)
		}
	}
	return failed
}

// untilNext is how long until the earliest retry comes due, at most Interval.
func (s *Service) untilNext(ctx context.Context) time.Duration {
	next, err := s.Store.NextDue(ctx)
	if err != nil {
		return time.Second
	}
	if next.IsZero() {
		return s.Interval
	}
	return min(max(next.Sub(s.Store.Now()), 0), s.Interval)
}

// listen wakes the loop on every NOTIFY of the outbox channel, holding its
// own connection (a LISTEN must stay on one session) and reconnecting
// when it is lost; a reconnect wakes the loop too, for what it missed.
func (s *Service) listen(ctx context.Context) {
	for {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.Log.Warn("webhook listener lost its database connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Service) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.ListenDSN)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+model.OutboxChannel); err != nil {
		return err
	}
	s.Wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.Wake()
	}
}
