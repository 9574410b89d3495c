package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/listquery"
)

func logWriterFixture(t *testing.T) (*run.Store, *testutil.LogFixture) {
	t.Helper()
	s := run.New(model.NewStore(testutil.DB(t), testutil.Logger(t)), nil)
	return s, testutil.InsertLogFixture(t, s, "writer", 1)
}

// storedLog reads every line of the change, oldest first.
func storedLog(t *testing.T, s *run.Store, changeID string) []run.LogLine {
	t.Helper()
	var out []run.LogLine
	for after := int64(0); ; {
		rows, err := run.LogLinesAfter(context.Background(), s.LogLineList(changeID, ""), listquery.List{}, after, 20000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
		if len(rows) < 20000 {
			return out
		}
		after = rows[len(rows)-1].ID
	}
}

func messages(lines []run.LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Message
	}
	return out
}

// TestLogWriterSplitsLines feeds output in awkward pieces: every line comes
// out whole, long lines in chunks that never split a character, the last
// line without a newline on Close.
func TestLogWriterSplitsLines(t *testing.T) {
	t.Parallel()
	long := "a" + strings.Repeat("é", 40000) + strings.Repeat("€", 30000) // both cuts fall inside a character
	cases := []struct {
		name   string
		writes []string
		engine string // a Line() call after the writes
		want   []string
	}{
		{"lines across writes", []string{"he", "llo\nwor", "ld\n\nlast"}, "", []string{"hello", "world", "", "last"}},
		{"CRLF and a bare CR", []string{"dos\r\n", "progress\r50%\r\n"}, "", []string{"dos", "progress\r50%"}},
		{"engine lines", []string{"out\n"}, "worker lost\nstep ended", []string{"out", "worker lost", "step ended"}},
		{"empty", nil, "", nil},
		{"long line", []string{long[:1000], long[1000:] + "\nafter\n"}, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := logWriterFixture(t)
			w := engine.NewLogWriter(s, f.Change.ID, f.Steps[0].ID)
			for _, p := range tc.writes {
				if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tc.engine != "" {
				w.Line(tc.engine)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := messages(storedLog(t, s, f.Change.ID))
			if tc.name != "long line" {
				if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
					t.Fatalf("lines %q, want %q", got, tc.want)
				}
				return
			}
			if len(got) < 3 || got[len(got)-1] != "after" || strings.Join(got[:len(got)-1], "") != long {
				t.Fatalf("%d lines do not rebuild the long line", len(got))
			}
			for _, m := range got {
				if len(m) > engine.MaxLogLineBytes || !utf8.ValidString(m) || strings.ContainsRune(m, utf8.RuneError) {
					t.Fatalf("chunk of %d bytes, valid UTF-8 %v", len(m), utf8.ValidString(m))
				}
			}
		})
	}
}

// TestLogWriterConcurrentWriters: stdout and stderr (and more) writing at
// once; each writer's lines stay whole and in its order, timestamps follow
// storage order.
func TestLogWriterConcurrentWriters(t *testing.T) {
	t.Parallel()
	s, f := logWriterFixture(t)
	w := engine.NewLogWriter(s, f.Change.ID, f.Steps[0].ID)
	const writers, lines = 6, 3000
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < lines; n += 3 {
				// Several lines per write, as a pipe delivers them.
				chunk := fmt.Sprintf("w%d %05d\nw%d %05d\nw%d %05d\n", i, n, i, n+1, i, n+2)
				if _, err := w.Write([]byte(chunk)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := storedLog(t, s, f.Change.ID)
	if len(got) != writers*lines {
		t.Fatalf("stored %d lines, want %d", len(got), writers*lines)
	}
	next := make([]int, writers)
	for i, l := range got {
		var who, n int
		if _, err := fmt.Sscanf(l.Message, "w%d %d", &who, &n); err != nil || who >= writers || n != next[who] {
			t.Fatalf("line %d %q: want w%d's line %d", i, l.Message, who, next[who])
		}
		next[who]++
		if i > 0 && l.LoggedAt.Before(got[i-1].LoggedAt) {
			t.Fatalf("line %d logged before the line stored ahead of it", i)
		}
	}
}

func TestLogWriterAfterClose(t *testing.T) {
	t.Parallel()
	s, f := logWriterFixture(t)
	w := engine.NewLogWriter(s, f.Change.ID, f.Steps[0].ID)
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("late\n")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	w.Line("the worker was lost") // the engine's notes are kept even then
	if got := messages(storedLog(t, s, f.Change.ID)); strings.Join(got, "|") != "partial|the worker was lost" {
		t.Fatalf("lines %q", got)
	}
}

// TestLogWriterMillionLines: a step printing a million lines has every one
// stored in order while the writer never holds more than its bound.
func TestLogWriterMillionLines(t *testing.T) {
	if testing.Short() {
		t.Skip("stores a million lines")
	}
	t.Parallel()
	s, f := logWriterFixture(t)
	w := engine.NewLogWriter(s, f.Change.ID, f.Steps[0].ID)
	const total = 1_000_000
	var buf []byte
	for i := 0; i < total; i++ {
		buf = fmt.Appendf(buf, "line %07d of the big step\n", i)
		if len(buf) >= 32<<10 || i == total-1 { // a pipe's worth at a time
			if _, err := w.Write(buf); err != nil {
				t.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if peak := engine.LogWriterPeak(w); peak > engine.LogWriterBound {
		t.Fatalf("the writer held %d bytes, over its bound of %d", peak, engine.LogWriterBound)
	}
	got := storedLog(t, s, f.Change.ID)
	if len(got) != total {
		t.Fatalf("stored %d lines, want %d", len(got), total)
	}
	for i, l := range got {
		if want := fmt.Sprintf("line %07d of the big step", i); l.Message != want {
			t.Fatalf("line %d = %q, want %q", i, l.Message, want)
		}
	}
}
