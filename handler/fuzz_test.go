package handler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// nodePathPattern is a canonical node path: what resolveNode must find.
var nodePathPattern = regexp.MustCompile(`^/projects/[A-Za-z0-9_-]+(/environments/[A-Za-z0-9_-]+)?(/assets/[A-Za-z0-9_-]+)?$`)

// FuzzNodePath: a URL path below /api, and a change's parent_path, are
// hostile input to the node resolver. Whatever they hold (NUL, broken UTF-8,
// upper case, dot segments, huge codes), the answer is never a 500; errors
// are bounded JSON:API documents; and the path of an existing node resolves
// to that node, whose self link is the path again.
func FuzzNodePath(f *testing.F) {
	for _, seed := range []string{
		"/projects/p", "/projects/p/environments/e", "/projects/p/environments/e/assets/a", "/projects/p/assets/pa",
		"/projects/P", "/projects/p/", "/projects//p", "/projects/p/../q", "/projects/./p", "/projects/p/environments",
		"/projects/p/assets/a", "/projects/p/environments/e/assets", "/projects/p\x00", "/projects/\xff", "/projects/" + strings.Repeat("p", 300),
		"/projects/p/environments/e/assets/a/properties", "/projects/p/environments/e/changes", "/projects/p/bookmarks",
		"/projects/p/environments/e/assets/a/converged_properties", "/projects/p/environments/e/assets/a/mintmodels/x",
		"/projects/p/nothing/e", "/environments/e", "", "/", "/projects/p?x=1", "/projects/p%2Fq", "/projects/p;x",
		"/projects/p/templates/\xff", "/projects/p/templates/t\x00/versions/\xff", "/projects/p/git_remotes/\x00",
		"/projects/p/properties/versions/\xff", "/changes/\xff", "/steps/\x00", "/events/\xff\x00",
	} {
		f.Add(seed)
	}
	store := run.New(model.NewStore(testutil.DB(f), slog.New(slog.DiscardHandler)), nil)
	store.Git = gitops.NewMirrors(filepath.Join(f.TempDir(), "mirrors"))
	ctx := context.Background()
	if err := store.EnsureAdmin(ctx); err != nil {
		f.Fatal(err)
	}
	if _, _, err := store.CreateToken(ctx, model.SystemActor, "admin", "test", 0, testutil.AdminToken); err != nil {
		f.Fatal(err)
	}
	nodes := map[string]bool{}
	var create func(parent *model.Node, kind, code string) *model.Node
	create = func(parent *model.Node, kind, code string) *model.Node {
		n, err := store.CreateNode(ctx, model.SystemActor, parent, kind, model.NodeInput{Code: code, Name: code})
		if err != nil {
			f.Fatal(err)
		}
		nodes[n.Path] = true
		return n
	}
	p := create(nil, model.KindProject, "p")
	e := create(p, model.KindEnvironment, "e")
	create(e, model.KindAsset, "a")
	create(p, model.KindAsset, "pa")
	h := (&handler.API{Store: store, Log: slog.New(slog.DiscardHandler), Version: "test", OpenAPI: steward.OpenAPI}).Handler()

	do := func(t *testing.T, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
		t.Helper()
		r := httptest.NewRequest(method, "/", strings.NewReader(body))
		r.URL.Path, r.URL.RawPath = path, "" // any bytes, as %-escapes would give
		r.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
		r.Header.Set("Accept", "application/vnd.api+json")
		if body != "" {
			r.Header.Set("Content-Type", "application/vnd.api+json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, w.Code, w.Body)
		}
		var doc map[string]any
		if w.Code >= 400 || w.Code == http.StatusOK {
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%s %q: %d, not JSON: %v", method, path, w.Code, err)
			}
		}
		if w.Code >= 400 {
			errs, _ := doc["errors"].([]any)
			if len(errs) == 0 || w.Body.Len() > 4096 || errs[0].(map[string]any)["status"] != strconv.Itoa(w.Code) {
				t.Fatalf("%s %q: %d with %d-byte body %.300s", method, path, w.Code, w.Body.Len(), w.Body)
			}
		}
		return w, doc
	}
	f.Fuzz(func(t *testing.T, path string) {
		w, doc := do(t, http.MethodGet, "/api"+path, "")
		if nodePathPattern.MatchString(path) {
			if nodes[path] != (w.Code == http.StatusOK) {
				t.Fatalf("GET %q: %d; the node exists: %v", path, w.Code, nodes[path])
			}
			if w.Code == http.StatusOK {
				data := doc["data"].(map[string]any)
				if self := data["links"].(map[string]any)["self"]; self != "/api"+path {
					t.Fatalf("GET %q: self link %v", path, self)
				}
			}
		}
		// parent_path takes a node path (with or without /api) in a body.
		body, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "change",
			"attributes": map[string]any{"action": "build", "parent_path": path}}})
		w, _ = do(t, http.MethodPost, "/api/changes", string(body))
		if w.Code == http.StatusCreated {
			t.Fatalf("parent_path %q: a change was created without a git remote", path)
		}
	})
}
