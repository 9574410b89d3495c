package handler

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// IdempotencyHeader is the request header that makes a POST safe to retry.
const IdempotencyHeader = "Idempotency-Key"

// ReplayedHeader marks a response that is a stored copy of the first one.
const ReplayedHeader = "Idempotent-Replayed"

// notReplayable are POSTs whose responses must never be stored: a new
// token's (webhook's, hook's) secret exists only in its create response.
var notReplayable = map[string]bool{"/api/tokens": true, "/api/webhooks": true, "/api/hooks": true}

// idempotent makes every POST under /api that carries Idempotency-Key safe to
// retry: the key is reserved (model.ReserveIdempotencyKey), the handler runs
// into a buffer, and its response is stored (or, for 5xx, the key released)
// before it is sent. A retry gets the stored response with
// Idempotent-Replayed: true and nothing runs again. It sits after
// authenticate: keys are scoped to the caller.
func (a *API) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys := r.Header.Values(IdempotencyHeader)
		actor := actorOf(r)
		if r.Method != http.MethodPost || len(keys) == 0 || actor == nil || !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		if len(keys) > 1 {
			a.fail(w, r, &steward.Error{Kind: steward.KindBadRequest, Code: "invalid_idempotency_key",
				Meta: map[string]any{"header": IdempotencyHeader}, Detail: "send one Idempotency-Key header, not several"})
			return
		}
		if notReplayable[r.URL.Path] {
			a.fail(w, r, &steward.Error{Kind: steward.KindBadRequest, Code: "idempotency_not_supported",
				Meta:   map[string]any{"header": IdempotencyHeader},
				Detail: "Idempotency-Key is not accepted here: the response carries a secret that Steward does not store"})
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// Too large or unreadable: let the handler report it as usual;
			// nothing was reserved and nothing will be created.
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
			next.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		hash := model.IdempotencyRequestHash(r.Method, r.URL.Path, r.URL.RawQuery, body)
		rec, replay, err := a.Store.ReserveIdempotencyKey(r.Context(), actor, keys[0], hash)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if replay {
			writeStored(w, rec.Status, rec.ResponseHeaders, rec.ResponseBody, true)
			return
		}
		// Storing or releasing must happen even when the client has gone.
		ctx := context.WithoutCancel(r.Context())
		buf := &bufferedResponse{header: http.Header{}}
		finished := false
		defer func() {
			if !finished { // the handler panicked: a 500, so the key is released
				if err := a.Store.ReleaseIdempotencyKey(ctx, rec); err != nil {
					a.Log.Error("release idempotency key", "request_id", requestID(r.Context()), "err", err)
				}
			}
		}()
		next.ServeHTTP(buf, r)
		finished = true
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		if err := a.Store.CompleteIdempotencyKey(ctx, rec, buf.status, model.ResponseHeaders(buf.header), buf.body.Bytes()); err != nil {
			// The work is done; the client still gets its answer. A retry
			// finds the reservation without a response and gets a 409.
			a.Log.Error("store idempotent response", "request_id", requestID(r.Context()), "err", err)
		}
		writeStored(w, buf.status, buf.header, buf.body.Bytes(), false)
	})
}

func writeStored(w http.ResponseWriter, status int, header map[string][]string, body []byte, replayed bool) {
	for k, v := range header {
		w.Header()[k] = append([]string(nil), v...)
	}
	if replayed {
		w.Header().Set(ReplayedHeader, "true")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bufferedResponse holds a response until it has been stored.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
