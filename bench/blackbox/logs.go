package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

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
}

// logRun measures ingest alone, ingest with one live follower, then the
// download of the first log beside one streamed SELECT of it.
func (s *server) logRun(lines int, dir, dbURL string) (logFigures, error) {
	var f logFigures
	body := `{"data":{"attributes":{"action":"biglog","git_remote_name":"ops","git_rev":"main"}}}`
	id, err := s.change(body)
	if err != nil {
		return f, err
	}
	c, err := s.finished(id)
	if err != nil {
		return f, err
	}
	f.ingest = float64(lines) / (c.stepTime / 1000)

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

// selectFloor is the download's floor: one streamed SELECT of the log's
// messages, written as text, from the server's own database.
func selectFloor(dir, dbURL, id string, lines int) (float64, error) {
	if dbURL == "" {
		dbURL = db.DefaultURL(filepath.Join(dir, "data"))
	}
	g, err := db.Open(dbURL)
	if err != nil {
		return 0, err
	}
	sqlDB, err := g.DB()
	if err != nil {
		return 0, err
	}
	defer sqlDB.Close()
	start := time.Now()
	rows, err := sqlDB.QueryContext(context.Background(), "SELECT message FROM log_lines WHERE change_id = $1 ORDER BY id", id)
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
	label := strconv.Itoa(lines)
	fmt.Printf("log figures, one step printing %s lines, median of %d runs\n", label, len(runs))
	fmt.Printf("%-58s %10.0f lines/s\n", "log ingest (step started_at -> finished_at)", ingest)
	fmt.Printf("%-58s %10.0f lines/s  (costs %.0f%%)\n", "log ingest with one live SSE follower", followed, 100*(1-followed/ingest))
	fmt.Printf("%-58s %8.0fms .. %.0fms\n", "follower sees the last line: after finished_at .. logged_at",
		pick(func(r logFigures) float64 { return r.seenAfterFinished }), pick(func(r logFigures) float64 { return r.seenAfterLogged }))
	fmt.Printf("%-58s %9.2fs %9.2fs  (%.2fx)\n", "download as text (floor: one streamed SELECT as text)", dl, floor, dl/floor)
}
