package handler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"
	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyRequestInfo
	keyMethod // the method the client sent, when headAsGet changed it
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// actorOf is the authenticated caller; authenticate guarantees one under
// /api (model.Anonymous on the paths that need no token).
func actorOf(r *http.Request) *model.Actor {
	if a := model.ActorOf(r.Context()); a != nil {
		return a
	}
	return model.Anonymous
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Flush lets streaming responses (CSV, SSE) through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests assigns a request id (or keeps a sane X-Request-Id) and logs
// one line per request. Query strings are not logged: they may carry filters
// with user data, never secrets, but there is no need to keep them.
func (a *API) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{route: "unmatched"}
		ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyRequestInfo, info)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		if info.route == "unmatched" && a.router != nil {
			// Refused before routing (413, 415, 406): still name the route.
			var m mux.RouteMatch
			if a.router.Match(r, &m) && m.Route != nil {
				if tpl, err := m.Route.GetPathTemplate(); err == nil {
					info.route = tpl
				}
			}
		}
		a.Metrics.HTTPRequest(info.route, r.Method, rec.status, took)
		a.Log.Info("request", "request_id", id, "method", r.Method, "route", info.route, "path", r.URL.Path,
			"status", rec.status, "bytes", rec.bytes, "duration_ms", float64(took.Microseconds())/1000, "user", info.user)
	})
}

// requestInfo is what inner layers learn about a request for its log line
// and metrics: the route template that matched and who asked.
type requestInfo struct {
	route, user string
}

func infoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(keyRequestInfo).(*requestInfo)
	return info
}

// noteRoute records the matched route's template (never the raw path, whose
// codes and ids would make metrics unbounded).
func noteRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoOf(r); info != nil {
			if route := mux.CurrentRoute(r); route != nil {
				if tpl, err := route.GetPathTemplate(); err == nil {
					info.route = tpl
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a 500 JSON:API error without internals; the
// stack is logged with the request id so the two can be matched.
func (a *API) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// logRequests may sit inside this middleware: its id is then
				// only on the response headers, not on r's context.
				id := requestID(r.Context())
				if id == "" {
					id = w.Header().Get("X-Request-Id")
				}
				a.Log.Error("panic while handling request", "request_id", id,
					"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				jsonapi.RenderError(w, r, &steward.Error{Kind: steward.KindInternal, Code: "internal"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// maxDrain bounds how much of a body Steward reads and throws away beyond
// the limit (and beyond what a handler read) before it answers.
const maxDrain = 4 << 20

// limitBody refuses bodies over the limit with a 413 and Connection: close:
// at once when Content-Length says so, otherwise when the reader crosses it
// (DecodeBody reports 413).
//
// Many clients (node's among them) send the whole body before they read the
// answer. Closing a connection with unread data makes the kernel reset it,
// and the reset reaches such a client before (and instead of) the answer.
// net/http itself reads at most 256 KiB of what a handler left unread, so
// the rest of the body, up to maxDrain, is read and discarded here first: the
// connection then closes cleanly and the client reads the 413 (or the 401,
// 404, ... of a handler that never read the body). Beyond that bound, or
// when the client waits for 100 Continue and so has sent nothing, the body
// is not read.
func (a *API) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain := !strings.EqualFold(r.Header.Get("Expect"), "100-continue")
		if r.ContentLength > a.BodyLimit {
			if drain && r.ContentLength <= a.BodyLimit+maxDrain {
				_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength)
			}
			w.Header().Set("Connection", "close")
			jsonapi.RenderError(w, r, &steward.Error{Kind: jsonapi.KindTooLarge, Code: "too_large",
				Detail: fmt.Sprintf("the request body is larger than %d bytes", a.BodyLimit)})
			return
		}
		body := &limitedBody{ReadCloser: r.Body, w: w, limit: a.BodyLimit, left: a.BodyLimit, drain: drain}
		r.Body = body
		next.ServeHTTP(w, r)
		if drain {
			_, _ = io.Copy(io.Discard, body) // stops at the limit plus maxDrain
		}
	})
}

// limitedBody is http.MaxBytesReader, but one that, crossing the limit,
// reads on (up to maxDrain) before it reports *http.MaxBytesError, and marks
// the answer Connection: close.
type limitedBody struct {
	io.ReadCloser
	w     http.ResponseWriter
	limit int64
	left  int64
	drain bool
	err   error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p))-1 > b.left {
		p = p[:b.left+1] // one byte past the limit tells whether it is crossed
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		b.err = err
		return n, err
	}
	n, b.left = int(b.left), 0
	b.err = &http.MaxBytesError{Limit: b.limit}
	b.w.Header().Set("Connection", "close")
	if b.drain {
		_, _ = io.CopyN(io.Discard, b.ReadCloser, maxDrain)
	}
	return n, b.err
}

// negotiate applies JSON:API content negotiation to every request. A hook
// trigger is the exception for its body: it is checked as signed bytes and
// then read as JSON whatever its Content-Type, since CI callers (curl -d,
// GitHub's form setting) seldom send JSON:API's.
func (a *API) negotiate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkContentType(r); err != nil && !isHookTrigger(r.URL.Path) {
			jsonapi.RenderError(w, r, err)
			return
		}
		if err := checkAccept(r); err != nil {
			jsonapi.RenderError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

// checkContentType: a body must be JSON:API (or plain JSON, which many
// clients send); JSON:API with parameters other than ext/profile is a 415,
// as is any ext, since Steward supports no extensions.
func checkContentType(r *http.Request) error {
	if !hasBody(r) && r.Header.Get("Content-Type") == "" {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if hasBody(r) {
			return &steward.Error{Kind: jsonapi.KindMediaType, Code: "unsupported_media_type",
				Detail: "send request bodies with Content-Type: " + jsonapi.MediaType}
		}
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return &steward.Error{Kind: jsonapi.KindMediaType, Code: "unsupported_media_type", Detail: "Content-Type " + ct + " cannot be parsed"}
	}
	switch mt {
	case jsonapi.MediaType:
		for k := range params {
			if k != "profile" {
				return &steward.Error{Kind: jsonapi.KindMediaType, Code: "unsupported_media_type",
					Detail: fmt.Sprintf("media type parameter %q is not supported in Content-Type", k)}
			}
		}
		return nil
	case "application/json":
		return nil
	}
	if !hasBody(r) {
		return nil
	}
	return &steward.Error{Kind: jsonapi.KindMediaType, Code: "unsupported_media_type",
		Detail: "Content-Type " + mt + " is not supported; send " + jsonapi.MediaType}
}

// checkAccept: 406 when every JSON:API instance in Accept carries a parameter
// other than ext/profile (or an ext, none being supported), or when Accept
// names only media types Steward cannot produce.
func checkAccept(r *http.Request) error {
	header := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(header) == "" {
		return nil
	}
	jsonapiSeen, jsonapiOK, otherOK := false, false, false
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		delete(params, "q")
		switch mt {
		case jsonapi.MediaType:
			jsonapiSeen = true
			ok := true
			for k := range params {
				if k != "profile" {
					ok = false
				}
			}
			jsonapiOK = jsonapiOK || ok
		case "*/*", "application/*", "application/json":
			otherOK = true
		case "text/csv", "text/plain", "text/event-stream", "application/yaml", "text/yaml", "application/x-yaml", "text/*":
			// Downloads, logs, streams and the contract are served as these.
			otherOK = true
		case "text/html", "application/xhtml+xml", "text/css", "text/javascript", "application/javascript", "image/*", "image/png":
			// The docs page and its assets; / redirects a browser there.
			otherOK = otherOK || pagePath(r.URL.Path)
		}
	}
	if jsonapiSeen && !jsonapiOK {
		return &steward.Error{Kind: jsonapi.KindNotAcceptable, Code: "not_acceptable",
			Detail: "every " + jsonapi.MediaType + " in Accept has media type parameters other than profile; Steward supports no extensions"}
	}
	if !jsonapiOK && !otherOK {
		return &steward.Error{Kind: jsonapi.KindNotAcceptable, Code: "not_acceptable",
			Detail: "Accept allows nothing Steward can send; accept " + jsonapi.MediaType}
	}
	return nil
}

// authenticate requires a valid bearer token for everything under /api except
// the contract and its reference (publicPath).
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (!strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != metricsPath) || publicPath(r.URL.Path) {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				if err := a.RateLimit.allow(w, addressKey(r)); err != nil {
					a.fail(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(model.WithActor(r.Context(), model.Anonymous)))
			return
		}
		secret := ""
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			secret = h[7:]
		}
		ticket, r := takeTicket(r)
		var actor *model.Actor
		var err error
		if secret == "" && ticket != "" {
			actor, err = a.ticketActor(r, ticket)
		} else {
			actor, err = a.Store.Authenticate(r.Context(), secret)
		}
		if err != nil {
			// Failed attempts count against the address, so guessing is slow.
			if limited := a.RateLimit.allow(w, addressKey(r)); limited != nil {
				err = limited
			}
			a.fail(w, r, err)
			return
		}
		key := secret
		if key == "" {
			key = ticket
		}
		if err := a.RateLimit.allow(w, tokenKey(key)); err != nil {
			a.fail(w, r, err)
			return
		}
		if info := infoOf(r); info != nil {
			info.user = actor.Name()
		}
		next.ServeHTTP(w, r.WithContext(model.WithActor(r.Context(), actor)))
	})
}
