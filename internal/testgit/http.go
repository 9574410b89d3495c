package testgit

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// HTTPServer serves one repository through the real `git http-backend`
// behind basic auth, and counts on the server side the requests each
// presented credential made: how tests prove a use reached the server.
type HTTPServer struct {
	*httptest.Server
	// RepoURL is the repository's http:// URL (no userinfo).
	RepoURL string

	users    map[string]string
	mu       sync.Mutex
	requests map[string]int // "user:password" ("" when anonymous) -> requests
	fetches  map[string]int // the same, for accepted upload-pack POSTs (objects moved)
}

// NewHTTPServer serves repo to users (name -> password); every other
// credential, and none, is refused with 401.
func NewHTTPServer(t testing.TB, repo *GitRepo, users map[string]string) *HTTPServer {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo.Dir), "GIT_HTTP_EXPORT_ALL=1"},
	}
	s := &HTTPServer{users: users, requests: map[string]int{}, fetches: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		who := ""
		if ok {
			who = u + ":" + p
		}
		want, known := s.users[u]
		accepted := ok && known && p == want
		s.mu.Lock()
		s.requests[who]++
		if accepted && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			s.fetches[who]++
		}
		s.mu.Unlock()
		if !accepted {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	s.RepoURL = s.URL + "/" + filepath.Base(repo.Dir)
	return s
}

// Requests is how many requests presented user and password ("", "" for
// none), accepted or not.
func (s *HTTPServer) Requests(user, password string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if user == "" && password == "" {
		return s.requests[""]
	}
	return s.requests[user+":"+password]
}

// Fetches is how many accepted upload-pack exchanges (the requests that move
// objects, unlike a ref listing) user made.
func (s *HTTPServer) Fetches(user, password string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[user+":"+password]
}
