package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/pkg/db"
)

// The read figures compare the CPU the server spends per GET with a bare
// floor: this same binary, started with -floor-serve, answering the same
// URLs from the same rows with net/http, database/sql and encoding/json, and
// no authentication, authorisation, negotiation or snapshot.
var (
	readRequests = flag.Int("reads", 3000, "requests per read figure (0: no read figures)")
	floorServe   = flag.String("floor-serve", "", "internal: serve the bare read floor on this address")
	floorDB      = flag.String("floor-db", "", "internal: the floor's database URL")
)

// readEnvironments is how many environments the list figure lists.
const readEnvironments = 100

type readFigure struct {
	name, path string
	seed       bool // seed the environments before this figure
}

var readFigures = []readFigure{
	{"GET one project (one environment)", "/api/projects/p", false},
	{"GET one environment", "/api/projects/p/environments/e", false},
	{"list of 100 environments with include=project", "/api/projects/p/environments?include=project&limit=100", true},
}

// readRun seeds the environments, starts the floor beside the server and
// prints CPU per request for each figure, the server's beside the floor's.
func (s *server) readRun(dir, dbURL string, requests int) error {
	if dbURL == "" {
		dbURL = db.DefaultURL(filepath.Join(dir, "data"))
	}
	floor, err := startFloor(dbURL)
	if err != nil {
		return err
	}
	defer func() { _ = floor.cmd.Process.Kill(); _, _ = floor.cmd.Process.Wait() }()
	idle := idleCPU(s.cmd.Process.Pid, 3*time.Second)
	fmt.Printf("read figures, %d requests each over 4 connections, server CPU per request\n", requests)
	fmt.Printf("%-58s %10s %10s\n", "figure", "steward", "floor")
	for _, f := range readFigures {
		if f.seed {
			if err := s.seedEnvironments(); err != nil {
				return err
			}
		}
		ours, err := cpuPerRequest(s.cmd.Process.Pid, s.url+f.path, s.token, requests, idle)
		if err != nil {
			return err
		}
		bare, err := cpuPerRequest(floor.cmd.Process.Pid, floor.url+f.path, "", requests, 0)
		if err != nil {
			return err
		}
		fmt.Printf("%-58s %8.0fµs %8.0fµs  (%.2fx)\n", f.name, ours, bare, ours/bare)
	}
	fmt.Printf("(steward's idle CPU, %.1f%% of a core, is taken off its figures)\n", idle*100)
	return nil
}

func (s *server) seedEnvironments() error {
	for i := 1; i < readEnvironments; i++ {
		body := fmt.Sprintf(`{"data":{"attributes":{"code":"e%03d","name":"E %d"}}}`, i, i)
		if _, _, err := s.do("POST", "/api/projects/p/environments", body); err != nil {
			return err
		}
	}
	return nil
}

func startFloor(dbURL string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-floor-serve", addr, "-floor-db", dbURL)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{url: "http://" + addr, cmd: cmd}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/api/projects/p"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	return nil, fmt.Errorf("the floor server did not answer")
}

// idleCPU is the share of a core pid uses on its own (tickers, leases).
func idleCPU(pid int, d time.Duration) float64 {
	before, _ := processCPU(pid)
	time.Sleep(d)
	after, _ := processCPU(pid)
	return float64(after-before) / float64(d)
}

// cpuPerRequest GETs url requests times over four keep-alive connections
// (uncompressed, as curl asks) and returns the server's CPU per request in µs.
func cpuPerRequest(pid int, url, token string, requests int, idle float64) (float64, error) {
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	get := func() error {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Accept", "application/vnd.api+json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return nil
	}
	for i := 0; i < 50; i++ { // warm the caches and connections
		if err := get(); err != nil {
			return 0, err
		}
	}
	before, ok := processCPU(pid)
	if !ok {
		return 0, fmt.Errorf("cannot read the CPU time of process %d", pid)
	}
	begun := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < requests; i += 4 {
				if err := get(); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	after, _ := processCPU(pid)
	used := after - before - time.Duration(idle*float64(time.Since(begun)))
	return float64(used.Microseconds()) / float64(requests), nil
}

// runFloor serves the read figures' URLs from the rows, barely.
func runFloor(addr, dbURL string) error {
	sqlDB, err := openDB(dbURL)
	if err != nil {
		return err
	}
	f := &floorServer{db: sqlDB}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/projects/{project}", f.project)
	mux.HandleFunc("GET /api/projects/{project}/environments", f.environments)
	mux.HandleFunc("GET /api/projects/{project}/environments/{environment}", f.environment)
	return http.ListenAndServe(addr, mux)
}

type floorServer struct{ db *sql.DB }

type floorNode struct {
	ID, Kind, Code, Name, Path, PropertiesID, SettingsID string
	Description, ProjectType, ParentID                   sql.NullString
	Archived                                             bool
}

const floorColumns = "id, kind, code, name, path, properties_id, settings_id, description, project_type, parent_id, archived"

func scanNodes(rows *sql.Rows) ([]floorNode, error) {
	defer rows.Close()
	var out []floorNode
	for rows.Next() {
		var n floorNode
		if err := rows.Scan(&n.ID, &n.Kind, &n.Code, &n.Name, &n.Path, &n.PropertiesID, &n.SettingsID,
			&n.Description, &n.ProjectType, &n.ParentID, &n.Archived); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

type floorIdent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type floorRelated struct {
	Data  floorIdent        `json:"data"`
	Links map[string]string `json:"links"`
}

type floorRelationships struct {
	Bookmarks  struct{ Data []floorIdent } `json:"bookmarks"`
	Children   struct{ Data []floorIdent } `json:"children"`
	Parents    struct{ Data []floorIdent } `json:"parents"`
	Project    *floorRelated               `json:"project,omitempty"`
	Properties floorRelated                `json:"properties"`
	Settings   floorRelated                `json:"settings"`
}

type floorResource struct {
	Type          string             `json:"type"`
	ID            string             `json:"id"`
	Attributes    map[string]any     `json:"attributes"`
	Relationships floorRelationships `json:"relationships"`
	Links         map[string]string  `json:"links"`
	Meta          map[string]any     `json:"meta"`
}

// resource shapes a node row as Steward's document does (same keys, links
// and meta), with the ids of its children and bookmarks.
func (n floorNode) resource(project *floorNode, children, bookmarks []floorIdent) floorResource {
	self := "/api" + n.Path
	r := floorResource{Type: n.Kind, ID: n.ID,
		Attributes: map[string]any{"code": n.Code, "name": n.Name, "description": nullable(n.Description), "archived": n.Archived},
		Links:      map[string]string{"self": self, "changes": self + "/changes", "bookmarks": self + "/bookmarks", "scheduled_activities": self + "/scheduled_activities", "assets": self + "/assets"},
		Meta: map[string]any{"can_have_changes": true, "can_have_children": true, "can_have_properties": true, "can_have_settings": true,
			"requires_template": false, "authorisations": map[string]map[string]bool{"self": {"update": true}, "changes": {"read": true, "execute": true},
				"properties": {"read": true, "update": true}, "settings": {"read": true, "update": true}, "assets": {"read": true, "update": true}}},
	}
	r.Relationships.Bookmarks.Data = bookmarks
	r.Relationships.Children.Data = children
	r.Relationships.Parents.Data = []floorIdent{}
	r.Relationships.Properties = floorRelated{floorIdent{"properties", n.PropertiesID}, map[string]string{"related": "/api/properties/" + n.PropertiesID}}
	r.Relationships.Settings = floorRelated{floorIdent{"settings", n.SettingsID}, map[string]string{"related": "/api/settings/" + n.SettingsID}}
	if n.Kind == "project" {
		r.Attributes["project_type"] = nullable(n.ProjectType)
		for _, l := range []string{"environments", "git_remotes", "templates", "workflows", "workflow_runs"} {
			r.Links[l] = self + "/" + l
		}
	} else if project != nil {
		r.Relationships.Parents.Data = []floorIdent{{project.Kind, project.ID}}
		r.Relationships.Project = &floorRelated{floorIdent{project.Kind, project.ID}, map[string]string{"related": "/api" + project.Path}}
		r.Links["parent"] = "/api" + project.Path
	}
	return r
}

func nullable(s sql.NullString) any {
	if s.Valid {
		return s.String
	}
	return nil
}

// idsByParent reads the ids of column's rows for each owner in one query.
func (f *floorServer) idsByParent(ctx context.Context, query string, owners []string, kind string) (map[string][]floorIdent, error) {
	out := make(map[string][]floorIdent, len(owners))
	args := make([]any, len(owners))
	marks := make([]string, len(owners))
	for i, o := range owners {
		args[i], marks[i] = o, "$"+strconv.Itoa(i+1)
		out[o] = []floorIdent{}
	}
	rows, err := f.db.QueryContext(ctx, strings.Replace(query, "$IN", strings.Join(marks, ","), 1), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var owner, id, k string
		if err := rows.Scan(&owner, &id, &k); err != nil {
			return nil, err
		}
		if kind != "" {
			k = kind
		}
		out[owner] = append(out[owner], floorIdent{k, id})
	}
	return out, rows.Err()
}

func (f *floorServer) related(ctx context.Context, ids []string) (children, bookmarks map[string][]floorIdent, err error) {
	children, err = f.idsByParent(ctx, "SELECT parent_id, id, kind FROM nodes WHERE parent_id IN ($IN) ORDER BY id", ids, "")
	if err != nil {
		return nil, nil, err
	}
	bookmarks, err = f.idsByParent(ctx, "SELECT node_id, id, '' FROM bookmarks WHERE node_id IN ($IN) ORDER BY id", ids, "bookmark")
	return children, bookmarks, err
}

func (f *floorServer) node(ctx context.Context, path string) (*floorNode, error) {
	rows, err := f.db.QueryContext(ctx, "SELECT "+floorColumns+" FROM nodes WHERE path = $1", path)
	if err != nil {
		return nil, err
	}
	nodes, err := scanNodes(rows)
	if err != nil || len(nodes) == 0 {
		return nil, err
	}
	return &nodes[0], nil
}

func (f *floorServer) project(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := f.node(ctx, "/projects/"+r.PathValue("project"))
	if err != nil || p == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	rows, err := f.db.QueryContext(ctx, "SELECT "+floorColumns+" FROM nodes WHERE parent_id = $1 ORDER BY id", p.ID)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	kids, err := scanNodes(rows)
	ids := []string{p.ID}
	for _, k := range kids {
		ids = append(ids, k.ID)
	}
	children, bookmarks, err2 := f.related(ctx, ids)
	if err != nil || err2 != nil {
		http.Error(w, "read", 500)
		return
	}
	included := make([]floorResource, 0, len(kids))
	for _, k := range kids {
		included = append(included, k.resource(p, children[k.ID], bookmarks[k.ID]))
	}
	writeFloor(w, map[string]any{"data": p.resource(nil, children[p.ID], bookmarks[p.ID]), "included": included})
}

func (f *floorServer) environments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := f.node(ctx, "/projects/"+r.PathValue("project"))
	if err != nil || p == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	rows, err := f.db.QueryContext(ctx, "SELECT "+floorColumns+" FROM nodes WHERE parent_id = $1 AND kind = 'environment' ORDER BY id LIMIT $2", p.ID, limit)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	envs, err := scanNodes(rows)
	ids := []string{p.ID}
	for _, e := range envs {
		ids = append(ids, e.ID)
	}
	children, bookmarks, err2 := f.related(ctx, ids)
	if err != nil || err2 != nil {
		http.Error(w, "read", 500)
		return
	}
	data := make([]floorResource, 0, len(envs))
	for _, e := range envs {
		data = append(data, e.resource(p, children[e.ID], bookmarks[e.ID]))
	}
	writeFloor(w, map[string]any{"data": data, "included": []floorResource{p.resource(nil, children[p.ID], bookmarks[p.ID])}})
}

func (f *floorServer) environment(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	project := "/projects/" + r.PathValue("project")
	p, err := f.node(ctx, project)
	e, err2 := f.node(ctx, project+"/environments/"+r.PathValue("environment"))
	if err != nil || err2 != nil || p == nil || e == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	children, bookmarks, err := f.related(ctx, []string{p.ID, e.ID})
	if err != nil {
		http.Error(w, "read", 500)
		return
	}
	writeFloor(w, map[string]any{"data": e.resource(p, children[e.ID], bookmarks[e.ID]), "included": []floorResource{p.resource(nil, children[p.ID], bookmarks[p.ID])}})
}

func writeFloor(w http.ResponseWriter, doc any) {
	w.Header().Set("Content-Type", "application/vnd.api+json")
	_ = json.NewEncoder(w).Encode(doc)
}
