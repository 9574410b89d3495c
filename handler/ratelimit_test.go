package handler_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/internal/testutil"
)

// stoppedClock is a clock the test moves by hand.
type stoppedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stoppedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stoppedClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	clock := &stoppedClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := testutil.NewServerWith(t, func(a *handler.API) {
		a.RateLimit = &handler.RateLimit{Rate: 1, Burst: 3, Now: clock.Now}
	})
	other := identUser(t, s, "other")
	for i, want := range []string{"2", "1", "0"} {
		resp := s.Get(t, "/api/info").Expect(t, http.StatusOK)
		if got := resp.Header.Get("RateLimit-Remaining"); got != want {
			t.Errorf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
		}
		if resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Policy") != "3;w=3" {
			t.Errorf("request %d: headers %v", i, resp.Header)
		}
	}
	refused := s.Get(t, "/api/info").Expect(t, http.StatusTooManyRequests)
	if refused.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", refused.Header.Get("Retry-After"))
	}
	if e := refused.JSON(t)["errors"].([]any)[0].(map[string]any); e["status"] != "429" || e["code"] != "rate_limited" || e["detail"] == "" {
		t.Errorf("error %v", e)
	}
	// Another token has its own bucket.
	s.Do(t, testutil.Request{Method: "GET", Path: "/api/info", Token: other}).Expect(t, http.StatusOK)
	// Without a valid token the address's bucket counts: guessing is slowed.
	for i := 0; i < 3; i++ {
		s.Do(t, testutil.Request{Method: "GET", Path: "/api/info", Token: "stw_guess"}).Expect(t, http.StatusUnauthorized)
	}
	s.Do(t, testutil.Request{Method: "GET", Path: "/api/info", Token: "stw_guess"}).Expect(t, http.StatusTooManyRequests)
	// A second later the admin's bucket has one request again.
	clock.Add(time.Second)
	s.Get(t, "/api/info").Expect(t, http.StatusOK)
	s.Get(t, "/api/info").Expect(t, http.StatusTooManyRequests)
}
