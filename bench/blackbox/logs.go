package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/stewardhq/steward/pkg/db"
)

// logAction prints lines lines of about 40 bytes, as bench/logs_test.go does.
func logAction(lines int) string {
	return fmt.Sprintf("  biglog:\n    run: seq -f 'line %%07g of a step that prints a lot' 1 %d\n", lines)
}

// logFigures is one run of the log figures.
type logFigures struct {
	ingest, followed float64 // lines/s, from the step's started_at/finished_at
	// seenAfterLogged: the follower got the last line this long after its
	// logged_at (an upper bound of the lag behind its storage);
	// seenAfterFinished: ... after the step's finished_at, which comes after
	// the line was stored (a lower bound).
	seenAfterLogged, seenAfterFinished float64 // ms
	download, floor                    float64 // s
	// cpuIngest, cpuFollowed: the server process's CPU seconds over each
	// run (a follower's cost that a busy machine does not blur);
	// copyFloor: PostgreSQL only, lines/s of one COPY of as many lines
	// into a table like log_lines, in one transaction.
	cpuIngest, cpuFollowed, copyFloor float64
}

// logRun measures ingest alone, ingest with one live follower, then the
// download of the first log beside one streamed SELECT of it.
func (s *server) logRun(lines int, dir, dbURL string) (logFigures, error) {
	var f logFigures
	body := `{"data":{"attributes":{"action":"biglog","git_remote_name":"ops","git_rev":"main"}}}`
	cpu := s.serverCPU()
	id, err := s.change(body)
	if err != nil {
		return f, err
	}
	c, err := s.finished(id)
	if err != nil {
		return f, err
	}
	f.ingest = float64(lines) / (c.stepTime / 1000)
	f.cpuIngest = s.serverCPU() - cpu
	if dbURL != "" {
		if f.copyFloor, err = copyFloor(dbURL, lines); err != nil {
			return f, err
		}
	}

	cpu = s.serverCPU()

	_, doc, err := s.do("POST", "/api/projects/p/environments/e/changes", body)
	if err != nil {
		return f, err
	}
	seen, last, n, err := s.follow(doc.Data.ID)
	if err != nil {
		return f, err
	}
	if n != lines {
		return f, fmt.Errorf("the follower saw %d lines, want %d", n, lines)
	}
	fc, err := s.finished(doc.Data.ID)
	if err != nil {
		return f, err
	}
	f.followed = float64(lines) / (fc.stepTime / 1000)
	f.cpuFollowed = s.serverCPU() - cpu
	f.seenAfterLogged = ms(seen.Sub(last))
	f.seenAfterFinished = ms(seen.Sub(fc.stepFinished))

	// The download and its floor alternate, three times each: a busy
	// machine then weighs on both alike.
	var dls, floors []float64
	for k := 0; k < 3; k++ {
		start := time.Now()
		got, err := s.download(id)
		if err != nil {
			return f, err
		}
		dls = append(dls, time.Since(start).Seconds())
		if got != lines {
			return f, fmt.Errorf("the download had %d lines, want %d", got, lines)
		}
		floor, err := selectFloor(dir, dbURL, id, lines)
		if err != nil {
			return f, err
		}
		floors = append(floors, floor)
	}
	f.download, f.floor = median(dls), median(floors)
	return f, nil
}

// follow reads change id's log as Server-Sent Events until its end event:
// when the last line arrived, that line's logged_at, and how many came.
func (s *server) follow(id string) (seen, logged time.Time, n int, err error) {
	req, err := http.NewRequest("GET", s.url+"/api/changes/"+id+"/log_lines", nil)
	if err != nil {
		return seen, logged, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return seen, logged, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return seen, logged, 0, fmt.Errorf("follow: %d %s", resp.StatusCode, raw)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 256<<10), 256<<10)
	var lastData []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("data: ")):
			if bytes.HasPrefix(line, []byte(`data: {"status"`)) {
				continue
			}
			n++
			seen = time.Now()
			lastData = append(lastData[:0], line[6:]...)
		case bytes.Equal(line, []byte("event: end")):
			var ev struct {
				Attributes struct {
					LoggedAt time.Time `json:"logged_at"`
				} `json:"attributes"`
			}
			if err := json.Unmarshal(lastData, &ev); err != nil {
				return seen, logged, n, fmt.Errorf("follow: last event %.200s: %v", lastData, err)
			}
			return seen, ev.Attributes.LoggedAt, n, nil
		}
	}
	return seen, logged, n, fmt.Errorf("follow: the stream ended without an end event (%v)", sc.Err())
}

// download reads change id's log as text and counts its lines.
func (s *server) download(id string) (int, error) {
	req, err := http.NewRequest("GET", s.url+"/api/changes/"+id+"/log_lines?download=log.txt", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("download: %d", resp.StatusCode)
	}
	buf := make([]byte, 256<<10)
	n := 0
	for {
		k, err := resp.Body.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// openDB opens the server's database as the server does, for a floor.
func openDB(dbURL string) (*sql.DB, error) {
	g, err := db.Open(dbURL)
	if err != nil {
		return nil, err
	}
	return g.DB()
}

// selectFloor is the download's floor: one streamed SELECT of the log's
// messages, written as text, from the server's own database. On
// PostgreSQL it walks the (change_id, id) index with sorting priced out, as
// the server does: planned from statistics that do not know the new log,
// the same SELECT would sort a million lines, a floor no better than a
// mistake.
func selectFloor(dir, dbURL, id string, lines int) (float64, error) {
	if dbURL == "" {
		dbURL = db.DefaultURL(filepath.Join(dir, "data"))
	}
	sqlDB, err := openDB(dbURL)
	if err != nil {
		return 0, err
	}
	defer sqlDB.Close()
	start := time.Now()
	tx, err := sqlDB.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if strings.HasPrefix(dbURL, "postgres") {
		if _, err := tx.Exec("SET LOCAL enable_sort = off"); err != nil {
			return 0, err
		}
	}
	rows, err := tx.QueryContext(context.Background(), "SELECT message FROM log_lines WHERE change_id = $1 ORDER BY id", id)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	n := 0
	for rows.Next() {
		var m sql.RawBytes
		if err := rows.Scan(&m); err != nil {
			return 0, err
		}
		_, _ = w.Write(m)
		_ = w.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	_ = w.Flush()
	if n != lines {
		return 0, fmt.Errorf("the floor's SELECT read %d lines, want %d", n, lines)
	}
	return time.Since(start).Seconds(), nil
}

func printLogs(lines int, runs []logFigures) {
	pick := func(f func(logFigures) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	ingest := pick(func(r logFigures) float64 { return r.ingest })
	followed := pick(func(r logFigures) float64 { return r.followed })
	dl := pick(func(r logFigures) float64 { return r.download })
	floor := pick(func(r logFigures) float64 { return r.floor })
	cpuIngest := pick(func(r logFigures) float64 { return r.cpuIngest })
	cpuFollowed := pick(func(r logFigures) float64 { return r.cpuFollowed })
	label := strconv.Itoa(lines)
	fmt.Printf("log figures, one step printing %s lines, median of %d runs\n", label, len(runs))
	fmt.Printf("%-58s %10.0f lines/s\n", "log ingest (step started_at -> finished_at)", ingest)
	if floor := pick(func(r logFigures) float64 { return r.copyFloor }); floor > 0 {
		fmt.Printf("%-58s %10.0f lines/s  (ingest %.2fx of it)\n", "floor: one COPY of as many lines, one transaction", floor, ingest/floor)
	}
	fmt.Printf("%-58s %10.0f lines/s  (costs %.0f%%)\n", "log ingest with one live SSE follower", followed, 100*(1-followed/ingest))
	fmt.Printf("%-58s %9.2fs %9.2fs  (+%.0f%%)\n", "server CPU over the run: alone .. with the follower", cpuIngest, cpuFollowed, 100*(cpuFollowed/cpuIngest-1))
	fmt.Printf("%-58s %8.0fms .. %.0fms\n", "follower sees the last line: after finished_at .. logged_at",
		pick(func(r logFigures) float64 { return r.seenAfterFinished }), pick(func(r logFigures) float64 { return r.seenAfterLogged }))
	fmt.Printf("%-58s %9.2fs %9.2fs  (%.2fx)\n", "download as text (floor: one streamed SELECT as text)", dl, floor, dl/floor)
}

// serverCPU is the CPU time the server process has used so far, in seconds
// (its children, the steps, are not counted); NaN when it cannot be read.
func (s *server) serverCPU() float64 {
	d, ok := processCPU(s.cmd.Process.Pid)
	if !ok {
		return math.NaN()
	}
	return d.Seconds()
}

// processCPU is the user and system CPU time pid has used so far (Linux).
func processCPU(pid int) (time.Duration, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// utime and stime are fields 14 and 15, counted past the command name
	// (in parentheses, which may hold spaces); USER_HZ is 100 on Linux.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100, true
}

// copyFloor is PostgreSQL's ingest floor: lines/s of one COPY of as many
// lines as the step prints into a fresh table like log_lines (its indexes
// and identity too), in one transaction, from this process.
func copyFloor(dbURL string, lines int) (float64, error) {
	sqlDB, err := openDB(dbURL)
	if err != nil {
		return 0, err
	}
	defer sqlDB.Close()
	ctx := context.Background()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var rate float64
	err = conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS log_lines_floor; CREATE TABLE log_lines_floor (LIKE log_lines INCLUDING ALL)"); err != nil {
			return err
		}
		defer func() { _, _ = c.Exec(ctx, "DROP TABLE log_lines_floor") }()
		change := pgtype.UUID{Bytes: uuid.New(), Valid: true}
		step := pgtype.UUID{Bytes: uuid.New(), Valid: true}
		msgs := make([]string, lines)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("line %07d of a step that prints a lot", i+1)
		}
		start := time.Now()
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		row := make([]any, 4)
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"log_lines_floor"}, []string{"change_id", "step_id", "message", "logged_at"},
			pgx.CopyFromSlice(lines, func(i int) ([]any, error) {
				row[0], row[1], row[2], row[3] = change, step, msgs[i], time.Now()
				return row, nil
			}))
		if err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		rate = float64(lines) / time.Since(start).Seconds()
		return nil
	})
	return rate, err
}
