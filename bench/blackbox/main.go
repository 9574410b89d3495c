// Command blackbox measures Steward as a user sees it: it builds and starts
// the real server, drives it over HTTP, and prints each figure beside its
// floor. Figures come from the API's own timestamps and from /metrics.
//
//	go run ./bench/blackbox [-n 50] [-logs 1000000] [-log-runs 3] [-database-url postgres://...]
//	go run ./bench/blackbox -n 0 -logs 0 -burst 500 -burst-workers 2,16 [-database-url ...]
//
// -burst N posts N one-step changes on N environments at once over
// -burst-conns connections, to a server of its own per -burst-workers
// value (STEWARD_WORKERS, with STEWARD_RATE_LIMIT=off), and prints
// changes/s from the API's created_at/finished_at and the POST p50/p99.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 30, "changes to run one after another")
	logs := flag.Int("logs", 1_000_000, "lines the log step prints (0: no log figures)")
	logRuns := flag.Int("log-runs", 1, "runs of the log figures (the median is printed)")
	dbURL := flag.String("database-url", "", "PostgreSQL URL (default: the embedded SQLite)")
	flag.StringVar(&binary, "bin", "", "a steward binary to run instead of building one (to profile it)")
	flag.IntVar(&burstN, "burst", 0, "changes the burst posts at once, one per environment (0: no burst)")
	flag.IntVar(&burstConns, "burst-conns", 16, "connections the burst posts over")
	flag.StringVar(&burstWorkers, "burst-workers", "2,16", "engine workers of the burst's servers, one burst each")
	flag.Parse()
	if *floorServe != "" {
		if err := runFloor(*floorServe, *floorDB); err != nil {
			fmt.Fprintln(os.Stderr, "blackbox floor:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *logs, *logRuns, *dbURL); err != nil {
		fmt.Fprintln(os.Stderr, "blackbox:", err)
		os.Exit(1)
	}
}

var (
	binary             string
	burstN, burstConns int
	burstWorkers       string
)

type server struct {
	url, token string
	cmd        *exec.Cmd
}

func run(n, logs, logRuns int, dbURL string) error {
	dir, err := os.MkdirTemp("", "steward-blackbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := binary
	if bin == "" {
		bin = filepath.Join(dir, "steward")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/steward").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	if n > 0 || logs > 0 {
		if err := sequential(bin, dir, n, logs, logRuns, dbURL); err != nil {
			return err
		}
	}
	if burstN <= 0 {
		return nil
	}
	var figures []burstFigures
	for _, w := range strings.Split(burstWorkers, ",") {
		workers, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil {
			return fmt.Errorf("-burst-workers: %v", err)
		}
		f, err := burst(bin, dir, dbURL, burstN, burstConns, workers)
		if err != nil {
			return err
		}
		figures = append(figures, f)
	}
	printBurst(dbName(dbURL), burstN, burstConns, figures)
	return nil
}

func dbName(dbURL string) string {
	if dbURL != "" {
		return "PostgreSQL"
	}
	return "SQLite"
}

// sequential prints the one-after-another figures and the log figures.
func sequential(bin, dir string, n, logs, logRuns int, dbURL string) error {
	s, err := start(bin, dir, dbURL)
	if err != nil {
		return err
	}
	defer func() { _ = s.cmd.Process.Kill(); _, _ = s.cmd.Process.Wait() }()
	repo := filepath.Join(dir, "repo")
	if err := gitRepo(repo, logAction(logs)); err != nil {
		return err
	}
	for _, req := range []struct{ path, body string }{
		{"/api/projects", `{"data":{"attributes":{"code":"p","name":"P"}}}`},
		{"/api/projects/p/environments", `{"data":{"attributes":{"code":"e","name":"E"}}}`},
		{"/api/projects/p/git_remotes", `{"data":{"attributes":{"name":"ops","url":"file://` + repo + `"}}}`},
	} {
		if _, _, err := s.do("POST", req.path, req.body); err != nil {
			return err
		}
	}
	body := `{"data":{"attributes":{"action":"hello","git_remote_name":"ops","git_rev":"main"}}}`
	// Warm up the mirror and the engine.
	if _, err := s.change(body); err != nil {
		return err
	}
	// What the same window costs without a change: the server's own ticks,
	// and the closing /metrics read, whose authentication misses the token
	// cache after the window's second (a back-to-back read would hit it and
	// leave those statements to the change).
	const window = time.Second
	var idleWindows []float64
	for i := 0; i < 10; i++ {
		d, err := s.statementsOver(window)
		if err != nil {
			return err
		}
		idleWindows = append(idleWindows, d)
	}
	idle := mean(idleWindows)
	var dispatch, post, cycle []float64
	var statements []float64
	for i := 0; i < n; i++ {
		before, err := s.statements()
		if err != nil {
			return err
		}
		start := time.Now()
		_, doc, err := s.do("POST", "/api/projects/p/environments/e/changes", body)
		if err != nil {
			return err
		}
		post = append(post, ms(time.Since(start)))
		id := doc.Data.ID
		time.Sleep(window) // no client reads while the change runs
		after, err := s.statements()
		if err != nil {
			return err
		}
		statements = append(statements, after-before-idle)
		c, err := s.finished(id)
		if err != nil {
			return err
		}
		dispatch = append(dispatch, c.dispatch)
		cycle = append(cycle, c.cycle)
	}
	floor := forkFloor()
	db := dbName(dbURL)
	fmt.Printf("Steward black-box figures, %s, %d one-step changes one after another\n", db, n)
	fmt.Printf("%-58s %10s %10s %10s\n", "figure", "median", "p99", "floor")
	fmt.Printf("%-58s %8.2fms %8.2fms %8.2fms  (%.1fx)\n", "dispatch: created_at -> first step started_at", median(dispatch), p99(dispatch), floor, median(dispatch)/floor)
	fmt.Printf("%-58s %8.2fms %8.2fms %10s\n", "cycle: created_at -> finished_at", median(cycle), p99(cycle), "-")
	fmt.Printf("%-58s %8.2fms %8.2fms %10s\n", "POST /changes round trip", median(post), p99(post), "-")
	// The mean, not the median: the server's ticks land in one cycle's
	// window or the next, and only the sum over all of them averages out.
	fmt.Printf("%-58s %10.1f %10.1f %10s  (mean, max)\n", "statements per change cycle (POST -> success, no reads)", mean(statements), p99(statements), "-")
	fmt.Printf("(idle statements per %s window, /metrics read included: %.1f; floor: sh -c 'echo x' fork/exec)\n", window, idle)
	if *readRequests > 0 {
		if err := s.readRun(dir, dbURL, *readRequests); err != nil {
			return err
		}
	}
	if logs <= 0 {
		return nil
	}
	var runs []logFigures
	for i := 0; i < logRuns; i++ {
		f, err := s.logRun(logs, dir, dbURL)
		if err != nil {
			return err
		}
		runs = append(runs, f)
	}
	printLogs(logs, runs)
	return nil
}

func start(bin, dir, dbURL string, env ...string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "STEWARD_DATA_DIR="+filepath.Join(dir, "data"), "STEWARD_LISTEN="+addr,
		"STEWARD_ALLOW_LOCAL_REMOTES=true", "STEWARD_LOG_LEVEL=warn", "STEWARD_RATE_LIMIT=off")
	cmd.Env = append(cmd.Env, env...)
	if dbURL != "" {
		cmd.Env = append(cmd.Env, "STEWARD_DATABASE_URL="+dbURL)
	}
	// One known admin token for every server the harness starts: a server
	// on a PostgreSQL database that another one bootstrapped prints none.
	cmd.Env = append(cmd.Env, "STEWARD_ADMIN_TOKEN="+adminToken)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{url: "http://" + addr, cmd: cmd, token: adminToken}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, _, err := s.do("GET", "/api/projects", ""); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
			return nil, fmt.Errorf("the server did not answer: %v", err)
		}
	}
}

var adminToken = func() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "stw_blackbox_" + hex.EncodeToString(b)
}()

type document struct {
	Data struct {
		ID         string `json:"id"`
		Attributes struct {
			Status     string  `json:"status_code"`
			CreatedAt  string  `json:"created_at"`
			FinishedAt *string `json:"finished_at"`
		} `json:"attributes"`
	} `json:"data"`
	Included []struct {
		Attributes struct {
			StartedAt  *string `json:"started_at"`
			FinishedAt *string `json:"finished_at"`
		} `json:"attributes"`
	} `json:"included"`
}

func (s *server) do(method, path, body string) ([]byte, *document, error) {
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var doc document
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		_ = json.Unmarshal(raw, &doc)
	}
	return raw, &doc, nil
}

func (s *server) change(body string) (string, error) {
	_, doc, err := s.do("POST", "/api/projects/p/environments/e/changes", body)
	if err != nil {
		return "", err
	}
	_, err = s.finished(doc.Data.ID)
	return doc.Data.ID, err
}

// timing: ms from created_at to the first step's start and to the end;
// the (last) step's own run time and end.
type timing struct {
	dispatch, cycle, stepTime float64
	stepFinished              time.Time
}

// finished waits for change id to end and reads its timings.
func (s *server) finished(id string) (timing, error) {
	begun := time.Now()
	for deadline := begun.Add(120 * time.Second); time.Now().Before(deadline); time.Sleep(pollDelay(begun)) {
		_, doc, err := s.do("GET", "/api/changes/"+id+"?include=steps", "")
		if err != nil {
			return timing{}, err
		}
		a := doc.Data.Attributes
		if a.FinishedAt == nil {
			continue
		}
		if a.Status != "success" {
			return timing{}, fmt.Errorf("change %s ended %s", id, a.Status)
		}
		created, _ := time.Parse(time.RFC3339Nano, a.CreatedAt)
		finished, _ := time.Parse(time.RFC3339Nano, *a.FinishedAt)
		first := finished
		var t timing
		for _, st := range doc.Included {
			if st.Attributes.StartedAt == nil || st.Attributes.FinishedAt == nil {
				continue
			}
			started, err1 := time.Parse(time.RFC3339Nano, *st.Attributes.StartedAt)
			ended, err2 := time.Parse(time.RFC3339Nano, *st.Attributes.FinishedAt)
			if err1 != nil || err2 != nil {
				continue
			}
			if started.Before(first) {
				first = started
			}
			t.stepTime, t.stepFinished = ms(ended.Sub(started)), ended
		}
		t.dispatch, t.cycle = ms(first.Sub(created)), ms(finished.Sub(created))
		return t, nil
	}
	return timing{}, fmt.Errorf("change %s did not finish", id)
}

// pollDelay reads often at first (a short change), rarely after a second
// (a long one, whose reads should not weigh on what it measures).
func pollDelay(begun time.Time) time.Duration {
	if time.Since(begun) < time.Second {
		return 20 * time.Millisecond
	}
	return 250 * time.Millisecond
}

var statementLine = regexp.MustCompile(`(?m)^steward_db_statements_total\{kind="[a-z]+"\} (\S+)$`)

// statements is the server's statement count so far.
func (s *server) statements() (float64, error) {
	raw, _, err := s.do("GET", "/metrics", "")
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, m := range statementLine.FindAllStringSubmatch(string(raw), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total, nil
}

// statementsOver counts what the server sends on its own over d, with the
// /metrics read that ends it.
func (s *server) statementsOver(d time.Duration) (float64, error) {
	a, err := s.statements()
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	b, err := s.statements()
	return b - a, err
}

func gitRepo(dir, more string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "actions.yaml"), []byte("actions:\n  hello:\n    run: echo x\n"+more), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."},
		{"-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v %s", args, err, out)
		}
	}
	return nil
}

// forkFloor is the median cost of the cheapest step: sh -c 'echo x'.
func forkFloor() float64 {
	var xs []float64
	for i := 0; i < 30; i++ {
		start := time.Now()
		_ = exec.Command("sh", "-c", "echo x").Run()
		xs = append(xs, ms(time.Since(start)))
	}
	return median(xs)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 { return quantile(xs, 0.5) }

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(max(len(xs), 1))
}
func p99(xs []float64) float64 { return quantile(xs, 0.99) }

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}
