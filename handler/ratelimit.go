package handler

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// RateLimit is a token bucket per API token, and per client address for
// requests without a valid token (so guessing tokens is slowed too).
// Every limited response says where its caller stands in the RateLimit-*
// headers of the IETF draft; a refusal is a 429 with Retry-After.
type RateLimit struct {
	Rate  float64 // requests per second
	Burst int
	Now   func() time.Time // the clock; time.Now when nil

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// rateLimitKeys bounds the buckets kept; past it they start over (a bucket
// that starts over is full, which only ever lets more through).
const rateLimitKeys = 100_000

func (l *RateLimit) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// allow takes one request from key's bucket, sets the RateLimit headers on
// w, and returns a 429 error when the bucket is empty.
func (l *RateLimit) allow(w http.ResponseWriter, key string) error {
	if l == nil || l.Rate <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	if l.buckets == nil || len(l.buckets) >= rateLimitKeys {
		l.buckets = map[string]*rate.Limiter{}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
		l.buckets[key] = b
	}
	allowed := b.AllowN(now, 1)
	left := b.TokensAt(now)
	l.mu.Unlock()
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(l.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(int(math.Max(0, math.Floor(left)))))
	// Seconds until the bucket is full again.
	h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil((float64(l.Burst)-left)/l.Rate))))
	h.Set("RateLimit-Policy", strconv.Itoa(l.Burst)+";w="+strconv.Itoa(int(math.Ceil(float64(l.Burst)/l.Rate))))
	if allowed {
		return nil
	}
	wait := int(math.Ceil((1 - left) / l.Rate))
	if wait < 1 {
		wait = 1
	}
	h.Set("Retry-After", strconv.Itoa(wait))
	return &steward.Error{Kind: jsonapi.KindTooMany, Code: "rate_limited",
		Detail: "too many requests: this caller may make " + strconv.FormatFloat(l.Rate, 'f', -1, 64) +
			" a second (bursts of " + strconv.Itoa(l.Burst) + "); retry after " + strconv.Itoa(wait) + " s"}
}

// tokenKey is the bucket of a valid token (never the secret itself).
func tokenKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "t:" + hex.EncodeToString(sum[:8])
}

// addressKey is the bucket of a request without a valid token: its peer
// address (forwarding headers are the client's to forge, so not trusted).
func addressKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "a:" + host
}
