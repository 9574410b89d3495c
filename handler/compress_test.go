package handler_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
)

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	return out
}

func TestGzipOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	for i := range 10 {
		createProject(t, s, fmt.Sprintf("p%d", i))
	}
	tests := []struct {
		name, path, acceptEncoding string
		gzipped                    bool
	}{
		{"contract, gzip", "/api/openapi.yaml", "gzip", true},
		{"contract as JSON, gzip", "/api/openapi.json", "gzip, deflate, br", true},
		{"a list, gzip", "/api/projects", "gzip", true},
		{"a list, any encoding", "/api/projects", "*", true},
		{"contract, not asked", "/api/openapi.yaml", "", false},
		{"contract, identity", "/api/openapi.yaml", "identity", false},
		{"contract, gzip refused", "/api/openapi.yaml", "gzip;q=0, *", false},
		{"a list, br only", "/api/projects", "br", false},
		// A CSV download is streamed and flushed in batches: never wrapped.
		{"a download", "/api/projects?download=projects.csv", "gzip", false},
		// A small document gains nothing from gzip.
		{"a small document", "/healthz", "gzip", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.acceptEncoding != "" {
				h["Accept-Encoding"] = tc.acceptEncoding
			}
			resp, body := send(t, s, http.MethodGet, tc.path, h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			_, plainBody := send(t, s, http.MethodGet, tc.path, map[string]string{"Accept-Encoding": "identity"})
			enc := resp.Header.Get("Content-Encoding")
			if !tc.gzipped {
				if enc != "" {
					t.Fatalf("Content-Encoding %q, want none", enc)
				}
				if !bytes.Equal(body, plainBody) && !strings.Contains(tc.path, "download") {
					t.Error("the answer differs from the plain one")
				}
				return
			}
			if enc != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip", enc)
			}
			if !slices.Contains(resp.Header.Values("Vary"), "Accept-Encoding") {
				t.Errorf("Vary %v lacks Accept-Encoding", resp.Header.Values("Vary"))
			}
			if got := gunzip(t, body); !bytes.Equal(got, plainBody) {
				t.Errorf("gunzipped %d bytes differ from the plain %d bytes", len(got), len(plainBody))
			}
			if tc.path == "/api/openapi.yaml" && !bytes.Equal(plainBody, steward.OpenAPI) {
				t.Error("the plain contract differs from openapi.yaml")
			}
		})
	}
}

// TestGzipNeverOnLiveStreams: a log stream asked for with Accept-Encoding:
// gzip still arrives as plain server-sent events, event by event.
func TestGzipNeverOnLiveStreams(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	f := testutil.InsertLogFixture(t, s.Store, "logs", 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/changes/"+f.Change.ID+"/log_lines", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("a live stream got Content-Encoding %q", enc)
	}
	// The first event (retry) arrives while the change still runs: plain text, already flushed.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q (%v), want the plain retry: field", line, err)
	}
}

// TestGzipLeavesDocsAssetsAlone: the docs' assets are stored gzipped and
// served as they are; they are not gzipped twice.
func TestGzipLeavesDocsAssetsAlone(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	resp, body := send(t, s, http.MethodGet, "/api/docs/swagger-ui.css", map[string]string{"Accept-Encoding": "gzip"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		body = gunzip(t, body)
	}
	if bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Error("swagger-ui.css is gzipped twice")
	}
	if !bytes.Contains(body, []byte(".swagger-ui")) {
		t.Errorf("swagger-ui.css does not read as CSS: %.60q", body)
	}
}
