package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/stewardhq/steward/model"
	whmodel "github.com/stewardhq/steward/model/webhook"
)

// ResponseLimit is how much of a receiver's answer an attempt keeps.
const ResponseLimit = 4 << 10

// client is an HTTP client that dials only addresses the allow list
// permits, checked at every dial: a host that resolved to a public address
// when the subscription was made and to a private one now (DNS rebinding)
// is refused. Proxies from the environment are not used, since they would
// dial for us unchecked; redirects are not followed.
func client(allow *whmodel.AllowList, timeout time.Duration, workers int) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := allow.Resolve(ctx, host)
			if err != nil {
				return nil, err
			}
			var last error
			for _, ip := range ips {
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
		// Keep a connection per worker alive, whichever hosts they send to
		// (the default keeps 2 per host: the rest would be dialled afresh).
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// message is a claimed delivery ready to send: the event's body, rendered
// once for all the subscriptions it goes to in a batch, and the
// subscription's signing key, decoded once.
type message struct {
	c    *whmodel.Claimed
	body []byte
	key  []byte
	err  error // why it cannot be sent (recorded as the attempt's error)
}

// prepare renders each event of a claimed batch once and decodes each
// subscription's key once.
func (s *Service) prepare(claimed []whmodel.Claimed) []message {
	type rendered struct {
		body []byte
		err  error
	}
	bodies := map[string]rendered{}
	keys := map[string]rendered{}
	out := make([]message, len(claimed))
	for i := range claimed {
		c := &claimed[i]
		m := message{c: c}
		if c.Event == nil {
			m.err = errors.New("the event no longer exists")
			out[i] = m
			continue
		}
		b, ok := bodies[c.EventID]
		if !ok {
			b.body, b.err = s.Render(c.Event)
			bodies[c.EventID] = b
		}
		k, ok := keys[c.WebhookID]
		if !ok {
			k.body, k.err = whmodel.SecretKey(c.Secret)
			keys[c.WebhookID] = k
		}
		m.body, m.key, m.err = b.body, k.body, errors.Join(b.err, k.err)
		out[i] = m
	}
	return out
}

// send makes one attempt of m's delivery and says what came of it.
func (s *Service) send(ctx context.Context, m message) whmodel.Result {
	c, body, key := m.c, m.body, m.key
	now := s.Store.Now()
	a := whmodel.Attempt{StartedAt: now, RequestHeaders: model.JSONMap{}}
	fail := func(err error) whmodel.Result {
		msg := err.Error()
		a.Error = &msg
		return whmodel.Result{Attempt: a, RetryAt: now.Add(s.Backoff(c.Attempts + 1))}
	}
	if m.err != nil {
		return fail(m.err)
	}
	ts := now.Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Steward-Webhooks/1")
	req.Header.Set("webhook-id", c.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(key, c.EventID, ts, body))
	// The signature is an HMAC: recording it shows what was sent without
	// revealing the secret.
	for k := range req.Header {
		a.RequestHeaders[http.CanonicalHeaderKey(k)] = req.Header.Get(k)
	}
	start := time.Now()
	resp, err := s.Client.Do(req)
	if err != nil {
		a.LatencyUS = time.Since(start).Microseconds()
		return fail(err)
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	_ = resp.Body.Close()
	a.LatencyUS = time.Since(start).Microseconds()
	// Text columns take neither invalid UTF-8 nor (on PostgreSQL) NUL.
	snippet = bytes.ReplaceAll(bytes.ToValidUTF8(snippet, []byte("\uFFFD")), []byte{0}, nil)
	code, text := resp.StatusCode, string(snippet)
	a.ResponseStatus, a.ResponseBody = &code, &text
	if code >= 200 && code < 300 {
		return whmodel.Result{Attempt: a, OK: true}
	}
	r := fail(errors.New("the receiver answered " + strconv.Itoa(code)))
	return r
}
