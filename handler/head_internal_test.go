package handler

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHeadEndsStreamsAtTheirFirstFlush: a handler that streams until its
// client goes away (a live log) stops once HEAD's headers are out, instead
// of running on for a client that reads no body. The loop is bounded so a
// regression fails rather than hangs.
func TestHeadEndsStreamsAtTheirFirstFlush(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			writes := 0
			stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet {
					t.Errorf("the handler saw %s, want GET", r.Method)
				}
				w.Header().Set("Content-Type", "text/event-stream")
				rc := http.NewResponseController(w)
				for writes < 100 && r.Context().Err() == nil {
					writes++
					_, _ = w.Write([]byte("data: x\n\n"))
					if rc.Flush() != nil {
						return
					}
				}
			})
			rec := httptest.NewRecorder()
			headAsGet(stream).ServeHTTP(rec, httptest.NewRequest(method, "/stream", nil))
			want := 100
			if method == http.MethodHead {
				want = 1
			}
			if writes != want {
				t.Errorf("%s: the stream wrote %d events, want %d", method, writes, want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}
