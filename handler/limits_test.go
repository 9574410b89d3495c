package handler_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
)

// TestOverLimitBodyIsAnswered413 sends a 2 MB body (twice the limit) the way
// many clients do, writing all of it before reading the answer, over a real
// TCP connection: the client must read a JSON:API 413 and then a clean end
// of the connection, never a reset (which loses the answer) nor a failed
// write. The same holds for an answer given without reading the body at all
// (a 401 for a body under the limit but over what net/http reads itself).
func TestOverLimitBodyIsAnswered413(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	const size = 2 << 20
	if size <= handler.DefaultBodyLimit {
		t.Fatal("the body must be over the limit")
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	for _, tt := range []struct {
		name    string
		chunked bool
		size    int
		token   string
		status  int
		code    string
	}{
		{"content-length", false, size, testutil.AdminToken, http.StatusRequestEntityTooLarge, "too_large"},
		{"chunked", true, size, testutil.AdminToken, http.StatusRequestEntityTooLarge, "too_large"},
		{"unread 900 KB", false, 900 << 10, "wrong", http.StatusUnauthorized, ""},
		{"unread 900 KB chunked", true, 900 << 10, "wrong", http.StatusUnauthorized, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 20; i++ {
				resp, body := rawPost(t, addr, tt.token, tt.size, tt.chunked)
				if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != coreMediaType {
					t.Fatalf("round %d: %d %v, want %d JSON:API\n%s", i, resp.StatusCode, resp.Header, tt.status, body)
				}
				if tt.status == http.StatusRequestEntityTooLarge && !resp.Close {
					t.Fatalf("round %d: a 413 without Connection: close", i)
				}
				var doc struct {
					Errors []struct{ Status, Code string } `json:"errors"`
				}
				if err := json.Unmarshal(body, &doc); err != nil || len(doc.Errors) != 1 || doc.Errors[0].Status != fmt.Sprint(tt.status) ||
					(tt.code != "" && doc.Errors[0].Code != tt.code) {
					t.Fatalf("round %d: body %s (%v)", i, body, err)
				}
			}
		})
	}
}

// rawPost writes a POST /api/projects with a body of size bytes over a new
// TCP connection, all of it before reading anything, then reads the answer
// and the end of the connection, which must be clean.
func rawPost(t *testing.T, addr, token string, size int, chunked bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A safety net against a hung test, not a timing assertion.
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	// Loopback buffers would otherwise take the whole body unread; a small
	// send buffer makes this client wait for the server to read, as one
	// does across a network.
	if err := conn.(*net.TCPConn).SetWriteBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	head := "POST /api/projects HTTP/1.1\r\nHost: steward\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/vnd.api+json\r\nAccept: application/vnd.api+json\r\n"
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		head += fmt.Sprintf("Content-Length: %d\r\n\r\n", size)
	}
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("write headers: %v", err)
	}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		c := chunk[:min(len(chunk), size-sent)]
		var err error
		if chunked {
			_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(c), c)
		} else {
			_, err = conn.Write(c)
		}
		if err != nil {
			t.Fatalf("writing the body failed after %d bytes: %v", sent, err)
		}
	}
	if chunked {
		if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
			t.Fatalf("write the last chunk: %v", err)
		}
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the response body: %v", err)
	}
	if resp.Close {
		// The server closes the connection: an end, not a reset.
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("after the answer: %q, %v (want a clean close)", rest, err)
		}
	}
	return resp, body
}

// limitsSet is the id and version of a properties or settings document, or
// of one of their versions.
type limitsSet struct {
	ID      string
	Version int
}

// limitsPropertySet decodes whichever of the four property set types r holds.
func limitsPropertySet(t *testing.T, r *testutil.Response) limitsSet {
	t.Helper()
	switch typ := r.Data(t)["type"]; typ {
	case "properties":
		v := testutil.One[testutil.Properties](t, r)
		return limitsSet{v.ID, v.Version}
	case "settings":
		v := testutil.One[testutil.Settings](t, r)
		return limitsSet{v.ID, v.Version}
	case "properties_version":
		v := testutil.One[testutil.PropertiesVersion](t, r)
		return limitsSet{v.ID, v.Version}
	case "settings_version":
		v := testutil.One[testutil.SettingsVersion](t, r)
		return limitsSet{v.ID, v.Version}
	default:
		t.Fatalf("not a property set: %s", r.Body)
		return limitsSet{}
	}
}

// TestUpperCaseIDs: ids are UUIDs, which ignore case. PostgreSQL's uuid
// column does; SQLite's text does not. An upper-case id gets the answer the
// lower-case one gets, on both.
func TestUpperCaseIDs(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	propsID, settingsID := propsNode(t, s, "/api/projects", "project", "p")
	for _, tt := range []struct{ kind, id string }{{"properties", propsID}, {"settings", settingsID}} {
		upper := strings.ToUpper(tt.id)
		if upper == tt.id {
			t.Fatal("the id has no letters")
		}
		lower := limitsPropertySet(t, s.Get(t, "/api/"+tt.kind+"/"+tt.id).Expect(t, http.StatusOK))
		got := limitsPropertySet(t, s.Get(t, "/api/"+tt.kind+"/"+upper).Expect(t, http.StatusOK))
		if got.ID != tt.id || got.ID != lower.ID {
			t.Errorf("GET %s %s: id %v, want %s", tt.kind, upper, got.ID, tt.id)
		}
		// The id in the URL and in the body may differ in case only.
		body := map[string]any{"data": map[string]any{"type": tt.kind, "id": tt.id, "attributes": map[string]any{"data": map[string]any{}}}}
		patched := limitsPropertySet(t, s.Patch(t, "/api/"+tt.kind+"/"+upper, body).Expect(t, http.StatusOK))
		if patched.ID != tt.id || patched.Version != 2 {
			t.Errorf("PATCH %s %s: %+v", tt.kind, upper, patched)
		}
		// Versions below it too.
		if v := limitsPropertySet(t, s.Get(t, "/api/"+tt.kind+"/"+upper+"/versions/2").Expect(t, http.StatusOK)); v.Version != 2 {
			t.Errorf("version 2 via %s: %+v", upper, v)
		}
	}
	// A filter on an id compares canonical ids on both databases.
	list := testutil.ManyNodes(t, s.Get(t, "/api/projects?filter[id_eq]="+strings.ToUpper(testutil.OneNode(t, s.Get(t, "/api/projects/p").Expect(t, http.StatusOK)).ID)).
		Expect(t, http.StatusOK))
	if len(list) != 1 {
		t.Errorf("filter[id_eq] upper-case: %d projects, want 1", len(list))
	}
}

// TestErrorsEchoBoundedInput: an error detail quotes at most a bounded part
// of what the client sent, so a 64 KB value does not come back whole.
func TestErrorsEchoBoundedInput(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	coreCreate(t, s, "/api/projects", "project", "p")
	huge := strings.Repeat("a", 64<<10)
	for _, tt := range []struct {
		name, path string
		status     int
	}{
		{"code in the path", "/api/projects/" + huge, http.StatusNotFound},
		{"code below a project", "/api/projects/p/environments/" + huge, http.StatusNotFound},
		{"id in the path", "/api/changes/" + huge, http.StatusNotFound},
		{"properties id", "/api/properties/" + huge, http.StatusNotFound},
		{"filter value", "/api/projects?filter[id_eq]=" + huge, http.StatusBadRequest},
		{"filter name", "/api/projects?filter[" + huge + "_eq]=x", http.StatusBadRequest},
		{"sort", "/api/projects?sort=" + huge, http.StatusBadRequest},
		{"unknown parameter", "/api/projects?" + huge + "=1", http.StatusBadRequest},
		{"include", "/api/projects?include=" + huge, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.Get(t, tt.path).Expect(t, tt.status)
			if len(resp.Body) >= 2048 {
				t.Fatalf("%d-byte error body:\n%.300s…", len(resp.Body), resp.Body)
			}
			if detail, _ := resp.ErrorObject(t)["detail"].(string); !strings.Contains(detail, "aaaa…") && !strings.Contains(tt.name, "id") {
				t.Errorf("detail %q does not quote the start of the input", detail)
			}
		})
	}
	// An unknown attribute's name is echoed in the detail and the pointer.
	resp := s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "q", "name": "Q", huge: 1})).
		Expect(t, http.StatusUnprocessableEntity)
	if len(resp.Body) >= 2048 {
		t.Fatalf("%d-byte error body for an unknown attribute", len(resp.Body))
	}
}

// TestExactNumbers: numbers in free-form documents come back as sent, not
// through float64: in properties, in change metadata, after the deep merge
// of converged properties (with a repository file's numbers too).
// Exponent notation is written out (1e400 is 1 and 400 zeros), as
// PostgreSQL's jsonb writes it, so both databases give the same text.
func TestExactNumbers(t *testing.T) {
	t.Parallel()
	s, props := convServer(t)
	big := "123456789012345678901234567890"
	e400 := "1" + strings.Repeat("0", 400)
	repo := testgit.New(t)
	sha := repo.Commit("properties", map[string]string{
		"properties/base.json": `{"repo_big": 98765432109876543210987654321, "repo_e": 2.50e1, "nested": {"from_repo": 0.30000000000000004}}`,
	})
	convAssign(t, s, convWeb, repo.URL(), "web", sha)
	raw := `{"data":{"type":"properties","attributes":{"data":{"big":` + big + `,"tenth":0.1,"e400":1e400,` +
		`"trailing":1.50,"negzero":-0,"plain":8080,"list":[` + big + `,-0.000000001],"nested":{"deep":` + big + `}}}}}`
	want := map[string]string{"big": big, "tenth": "0.1", "e400": e400, "trailing": "1.50", "negzero": "0", "plain": "8080",
		"list.0": big, "list.1": "-0.000000001", "nested.deep": big}
	check := func(t *testing.T, where string, body []byte, want map[string]string, path ...string) {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range path {
			doc = doc.(map[string]any)[p]
		}
		for k, w := range want {
			v := doc
			for _, part := range strings.Split(k, ".") {
				switch c := v.(type) {
				case map[string]any:
					v = c[part]
				case []any:
					v = c[part[0]-'0']
				}
			}
			if n, ok := v.(json.Number); !ok || string(n) != w {
				t.Errorf("%s: %s = %v, want %.40s", where, k, v, w)
			}
		}
	}
	dataPath := []string{"data", "attributes", "data"}
	patched := s.Patch(t, "/api/properties/"+props[convProject], raw).Expect(t, http.StatusOK)
	check(t, "PATCH answer", patched.Body, want, dataPath...)
	check(t, "GET", s.Get(t, "/api/properties/"+props[convProject]).Expect(t, http.StatusOK).Body, want, dataPath...)
	check(t, "version 2", s.Get(t, "/api/properties/"+props[convProject]+"/versions/2").Expect(t, http.StatusOK).Body, want, dataPath...)

	// Deep merge keeps them: the project's numbers, below them the asset's,
	// and the repository file's.
	s.Patch(t, "/api/properties/"+props[convWeb], `{"data":{"type":"properties","attributes":{"data":{"nested":{"asset":1e-7}}}}}`).
		Expect(t, http.StatusOK)
	conv := map[string]string{"big": big, "e400": e400, "nested.deep": big, "nested.asset": "0.0000001",
		"repo_big": "98765432109876543210987654321", "repo_e": "25.0", "nested.from_repo": "0.30000000000000004"}
	check(t, "converged", s.Get(t, convWeb+"/converged_properties").Expect(t, http.StatusOK).Body, conv, dataPath...)

	// A number beyond what can be stored is a 422 pointing at it, on both databases.
	bad := s.Patch(t, "/api/properties/"+props[convProject], `{"data":{"type":"properties","attributes":{"data":{"a":{"b":1e200000}}}}}`).
		Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if bad["code"] != "invalid_number" || bad["source"].(map[string]any)["pointer"] != "/data/attributes/data/a/b" {
		t.Errorf("1e200000: %v", bad)
	}
}

// TestExactNumbersInChanges: change metadata and property_overrides are
// free-form documents too.
func TestExactNumbersInChanges(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	big := "123456789012345678901234567890"
	body := `{"data":{"type":"change","attributes":{"action":"build","git_remote_name":"origin","git_rev":"main",` +
		`"metadata":{"n":` + big + `,"e":1E3},"property_overrides":{"o":{"p":` + big + `}}}}}`
	created := s.Post(t, chgEnv+"/changes", body).Expect(t, http.StatusCreated)
	id := testutil.One[testutil.Change](t, created).ID
	for where, resp := range map[string]*testutil.Response{"POST": created, "GET": s.Get(t, "/api/changes/"+id).Expect(t, http.StatusOK)} {
		var doc struct {
			Data struct {
				Attributes struct {
					Metadata          map[string]json.RawMessage `json:"metadata"`
					PropertyOverrides map[string]json.RawMessage `json:"property_overrides"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(resp.Body, &doc); err != nil {
			t.Fatal(err)
		}
		a := doc.Data.Attributes
		if string(a.Metadata["n"]) != big || string(a.Metadata["e"]) != "1000" || string(a.PropertyOverrides["o"]) != `{"p":`+big+`}` {
			t.Errorf("%s: metadata %s, property_overrides %s", where, a.Metadata, a.PropertyOverrides)
		}
	}
}
