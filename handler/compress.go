package handler

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// minGzipSize: below this a gzip answer is no smaller (its header and
// trailer alone are 18 bytes), so it is sent as it is.
const minGzipSize = 512

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// compress gzips JSON:API documents, plain JSON and the contract for clients
// that send Accept-Encoding: gzip. Nothing else is touched: live log streams
// (text/event-stream) must reach the client event by event, CSV and log
// downloads are streamed and flushed as they are read, and the docs' assets
// come gzipped already (Content-Encoding set).
func compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &compressWriter{ResponseWriter: w, accepted: acceptsGzip(r.Header.Values("Accept-Encoding"))}
		defer cw.close()
		next.ServeHTTP(cw, r)
	})
}

// acceptsGzip reads Accept-Encoding: gzip (or x-gzip, or *) with a non-zero
// quality; an explicit gzip;q=0 refuses it even when * is allowed.
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip", "x-gzip":
				return q > 0
			case "*":
				star = q > 0
			}
		}
	}
	return star
}

type compressWriter struct {
	http.ResponseWriter
	accepted    bool
	wroteHeader bool
	gz          *gzip.Writer // set once the answer is being gzipped
}

func (c *compressWriter) WriteHeader(code int) {
	if c.wroteHeader {
		return
	}
	c.wroteHeader = true
	h := c.Header()
	if isDocument(h.Get("Content-Type")) {
		// The answer depends on Accept-Encoding whether or not this one is gzipped.
		h.Add("Vary", "Accept-Encoding")
		if c.accepted && bodyAllowed(code) && h.Get("Content-Encoding") == "" && !small(h.Get("Content-Length")) {
			h.Set("Content-Encoding", "gzip")
			h.Del("Content-Length")
			c.gz = gzipWriters.Get().(*gzip.Writer)
			c.gz.Reset(c.ResponseWriter)
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// small: a known length under minGzipSize (unknown lengths are gzipped).
func small(contentLength string) bool {
	n, err := strconv.Atoi(contentLength)
	return err == nil && n < minGzipSize
}

func (c *compressWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.gz != nil {
		return c.gz.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

// FlushError pushes what gzip holds, then flushes the connection.
func (c *compressWriter) FlushError() error {
	if c.gz != nil {
		if err := c.gz.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *compressWriter) Flush() { _ = c.FlushError() }

func (c *compressWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *compressWriter) close() {
	if c.gz == nil {
		return
	}
	_ = c.gz.Close()
	c.gz.Reset(nil)
	gzipWriters.Put(c.gz)
	c.gz = nil
}
