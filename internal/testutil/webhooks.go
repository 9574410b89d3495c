package testutil

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// WaitSignal checks cond after every notification of sig (a service's
// Attempted, a store's Outbox) until it holds, failing after WaitTimeout.
func WaitSignal(t testing.TB, what string, sig *model.Signal, cond func() (bool, string)) {
	t.Helper()
	ch, unsubscribe := sig.Subscribe()
	defer unsubscribe()
	waitUntil(t, what, ch, cond)
}

// ListenDSN is the URL a delivery service on g's database LISTENs on: the
// database's own on PostgreSQL, "" on SQLite (one process, no LISTEN).
func ListenDSN(g *gorm.DB) string {
	if d, ok := g.Dialector.(*postgres.Dialector); ok {
		return d.Config.DSN
	}
	return ""
}

// StoreWithSecrets is StoreAt with the tests' fixed secret key, so that
// several stores (as several replicas) open each other's sealed values.
func StoreWithSecrets(t testing.TB, url string) *run.Store {
	t.Helper()
	s := StoreAt(t, url)
	s.Secrets = testSecrets(t)
	return s
}

// Received is one request a Receiver got.
type Received struct {
	Header http.Header
	Body   []byte
}

// Receiver is a local webhook endpoint: it records every request and
// answers with Respond (200 when nil). Respond may block on the request's
// context to play a receiver that times out.
type Receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []Received
	Respond func(n int, w http.ResponseWriter, r *http.Request) // n counts requests from 1
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	rc := &Receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, Received{Header: r.Header.Clone(), Body: body})
		n, respond := len(rc.got), rc.Respond
		rc.mu.Unlock()
		if respond != nil {
			respond(n, w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// Got returns a copy of the requests received so far.
func (rc *Receiver) Got() []Received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Received(nil), rc.got...)
}
