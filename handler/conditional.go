package handler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// requestMethod is the method the client sent: HEAD for a HEAD request that
// runs as a GET inside.
func requestMethod(r *http.Request) string {
	if m, ok := r.Context().Value(keyMethod).(string); ok {
		return m
	}
	return r.Method
}

// errHeadDone ends a stream that a HEAD request started: its headers are out
// and a body would be thrown away.
var errHeadDone = errors.New("HEAD: headers sent, no body follows")

// headAsGet answers HEAD wherever GET is answered: the request runs as the GET
// it names (routes declare GET only), and net/http drops the body it writes,
// so the headers are the GET's own, Content-Length included when known.
// A stream or download ends at its first flush: its headers are out by then,
// and a live log stream would otherwise run for ever for nobody.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(context.WithValue(r.Context(), keyMethod, http.MethodHead))
		defer cancel()
		get := r.WithContext(ctx)
		get.Method = http.MethodGet
		next.ServeHTTP(&headWriter{ResponseWriter: w, cancel: cancel}, get)
	})
}

type headWriter struct {
	http.ResponseWriter
	cancel context.CancelFunc
}

func (h *headWriter) FlushError() error {
	_ = http.NewResponseController(h.ResponseWriter).Flush()
	h.cancel()
	return errHeadDone
}

func (h *headWriter) Flush() { _ = h.FlushError() }

func (h *headWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// conditional gives every 200 answer to a GET that is a JSON:API document or
// the contract an ETag over its bytes, and answers 304 Not Modified, without
// a body, when If-None-Match already names it. Such answers are written whole
// by their handlers, so holding them until the handler returns costs no
// latency; any other answer (streams, downloads, the docs page) passes
// straight through. The tag is weak: compress may send the same document
// gzipped, in other bytes.
func conditional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		cw := &conditionalWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if !cw.holding {
			return
		}
		body := cw.buf.Bytes()
		sum := sha256.Sum256(body)
		etag := `W/"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
		h := w.Header()
		h.Set("ETag", etag)
		if etagMatches(r.Header.Values("If-None-Match"), etag) {
			h.Del("Content-Type")
			h.Del("Content-Length")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// isDocument: JSON:API, plain JSON and the YAML contract, which handlers
// write whole; the media types that get an ETag (conditional) and gzip
// (compress). Streams, downloads and pages are none of these.
func isDocument(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/vnd.api+json", "application/json", "application/yaml":
		return true
	}
	return false
}

type conditionalWriter struct {
	http.ResponseWriter
	wroteHeader bool
	holding     bool // a 200 document being collected for its ETag
	buf         bytes.Buffer
}

func (c *conditionalWriter) WriteHeader(code int) {
	if c.wroteHeader {
		return
	}
	c.wroteHeader = true
	if code == http.StatusOK && isDocument(c.Header().Get("Content-Type")) {
		c.holding = true
		return
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *conditionalWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.holding {
		return c.buf.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

// FlushError: a handler that flushes streams; what was held goes out as it
// is, without an ETag, and the rest follows unheld.
func (c *conditionalWriter) FlushError() error {
	if c.holding {
		c.holding = false
		c.ResponseWriter.WriteHeader(http.StatusOK)
		if _, err := c.ResponseWriter.Write(c.buf.Bytes()); err != nil {
			return err
		}
		c.buf = bytes.Buffer{}
	}
	return http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *conditionalWriter) Flush() { _ = c.FlushError() }

func (c *conditionalWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// etagMatches is If-None-Match's weak comparison: W/ is ignored on both sides.
func etagMatches(headers []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, h := range headers {
		for _, tag := range strings.Split(h, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
				return true
			}
		}
	}
	return false
}
