package main

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// burstFigures is one burst: changes posted at once, each on its own
// environment, over a few connections.
type burstFigures struct {
	workers          int
	perSecond        float64 // changes from the first created_at to the last finished_at
	postP50, postP99 float64 // ms
}

// burst starts a server of its own with the given engine workers (and no
// rate limit: the burst is one client), makes n environments, posts one
// one-step change to each over conns connections, waits for all of them,
// and reads their created_at/finished_at from the API's CSV download.
func burst(bin, dir, dbURL string, n, conns, workers int) (burstFigures, error) {
	f := burstFigures{workers: workers}
	own := filepath.Join(dir, fmt.Sprintf("burst-%d", workers))
	s, err := start(bin, own, dbURL, "STEWARD_RATE_LIMIT=off", fmt.Sprintf("STEWARD_WORKERS=%d", workers))
	if err != nil {
		return f, err
	}
	defer func() { _ = s.cmd.Process.Kill(); _, _ = s.cmd.Process.Wait() }()
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = conns * 2
	}
	repo := filepath.Join(own, "repo")
	if err := gitRepo(repo, ""); err != nil {
		return f, err
	}
	// Its own project, so that bursts share a PostgreSQL database.
	project := fmt.Sprintf("burst%d", workers)
	base := "/api/projects/" + project
	if _, _, err := s.do("POST", "/api/projects", `{"data":{"attributes":{"code":"`+project+`","name":"B"}}}`); err != nil {
		return f, err
	}
	if _, _, err := s.do("POST", base+"/git_remotes", `{"data":{"attributes":{"name":"ops","url":"file://`+repo+`"}}}`); err != nil {
		return f, err
	}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"data":{"attributes":{"code":"e%d","name":"E%d"}}}`, i, i)
		if _, _, err := s.do("POST", base+"/environments", body); err != nil {
			return f, err
		}
	}
	body := `{"data":{"attributes":{"action":"hello","git_remote_name":"ops","git_rev":"main"}}}`
	// Warm up the mirror and the engine on the first environment.
	warm, _, err := s.do("POST", base+"/environments/e0/changes", body)
	if err != nil {
		return f, err
	}
	_ = warm
	if err := s.settled(); err != nil {
		return f, err
	}

	posts := make([]float64, n)
	next := make(chan int)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for k := 0; k < conns; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				begun := time.Now()
				if _, _, err := s.do("POST", fmt.Sprintf("%s/environments/e%d/changes", base, i), body); err != nil {
					errs <- err
					return
				}
				posts[i] = ms(time.Since(begun))
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return f, err
	default:
	}
	if err := s.settled(); err != nil {
		return f, err
	}
	first, last, count, err := s.span(project)
	if err != nil {
		return f, err
	}
	if count != n {
		return f, fmt.Errorf("burst: %d changes read back, want %d", count, n)
	}
	f.perSecond = float64(n) / last.Sub(first).Seconds()
	f.postP50, f.postP99 = median(posts), p99(posts)
	return f, nil
}

// settled waits until no change is unfinished.
func (s *server) settled() error {
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		raw, _, err := s.do("GET", "/api/changes?filter[finished_at_null]=true&limit=1", "")
		if err != nil {
			return err
		}
		if strings.Contains(string(raw), `"data":[]`) {
			return nil
		}
	}
	return fmt.Errorf("burst: changes still unfinished after 5 minutes")
}

// span reads the project's changes other than the warm-up (the first), and
// returns the first created_at, the last finished_at and how many there
// were, checking each succeeded.
func (s *server) span(project string) (first, last time.Time, n int, err error) {
	raw, _, err := s.do("GET", "/api/changes?filter[project_code_eq]="+project+"&download=changes.csv", "")
	if err != nil {
		return first, last, 0, err
	}
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(rows) < 3 {
		return first, last, 0, fmt.Errorf("burst: reading the changes CSV: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	type row struct{ created, finished time.Time }
	var all []row
	for _, r := range rows[1:] {
		if r[col["status_code"]] != "success" {
			return first, last, 0, fmt.Errorf("burst: a change ended %s", r[col["status_code"]])
		}
		c, err1 := time.Parse(time.RFC3339Nano, r[col["created_at"]])
		e, err2 := time.Parse(time.RFC3339Nano, r[col["finished_at"]])
		if err1 != nil || err2 != nil {
			return first, last, 0, fmt.Errorf("burst: times %q %q", r[col["created_at"]], r[col["finished_at"]])
		}
		all = append(all, row{c, e})
	}
	// The CSV is oldest first: the first row is the warm-up.
	all = all[1:]
	first, last = all[0].created, all[0].finished
	for _, r := range all {
		if r.created.Before(first) {
			first = r.created
		}
		if r.finished.After(last) {
			last = r.finished
		}
	}
	return first, last, len(all), nil
}

func printBurst(db string, n, conns int, fs []burstFigures) {
	fmt.Printf("\nburst: %d one-step changes on %d environments, posted over %d connections, %s, no rate limit\n", n, n, conns, db)
	fmt.Printf("%-10s %14s %12s %12s\n", "workers", "changes/s", "POST p50", "POST p99")
	for _, f := range fs {
		fmt.Printf("%-10d %14.1f %10.2fms %10.2fms\n", f.workers, f.perSecond, f.postP50, f.postP99)
	}
}
