package run_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/pkg/db"
	"github.com/stewardhq/steward/pkg/listquery"
)

func logStore(t *testing.T) *run.Store {
	t.Helper()
	return testutil.StoreAt(t, testutil.DatabaseURL(t))
}

func readLog(t *testing.T, s *run.Store, changeID string) []run.LogLine {
	t.Helper()
	var out []run.LogLine
	for after := int64(0); ; {
		rows, err := run.LogLinesAfter(context.Background(), s.LogLineList(changeID, ""), listquery.List{}, after, 10000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
		if len(rows) < 10000 {
			return out
		}
		after = rows[len(rows)-1].ID
	}
}

func TestAppendLogLinesStoresInOrder(t *testing.T) {
	t.Parallel()
	s := logStore(t)
	f := testutil.InsertLogFixture(t, s, "append", 2)
	at := time.Date(2025, 4, 25, 6, 21, 23, 984222000, time.UTC)
	// 1,203 lines of two steps taking turns (SQLite: one statement per
	// run of a step's lines), some long enough to split a run (1 MiB).
	var in []run.LogLine
	for i := 0; i < 1203; i++ {
		msg := fmt.Sprintf("line %d", i)
		if i >= 1100 && i < 1140 {
			msg += strings.Repeat("λ", 30<<10)
		}
		in = append(in, run.LogLine{ChangeID: f.Change.ID, StepID: f.Steps[i/100%2].ID, Message: msg, LoggedAt: at})
	}
	in[7].Message = "bad \xff utf-8 and a \x00 NUL"
	in[8].Message = ""
	in[9].Message = "quotes \" \\ backslash <b>&</b> tab\t bell\x07 \u2028 ✓ 🙂"
	if err := s.AppendLogLines(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	got := readLog(t, s, f.Change.ID)
	if len(got) != len(in) {
		t.Fatalf("stored %d lines, want %d", len(got), len(in))
	}
	for i, l := range got {
		want := in[i].Message
		switch i {
		case 7:
			want = "bad \uFFFD utf-8 and a \uFFFD NUL"
		case 8:
			want = ""
		}
		if l.Message != want || l.StepID != in[i].StepID || !l.LoggedAt.Equal(at) {
			t.Fatalf("line %d = %+v, want %q at %v", i, l, want, at)
		}
		if i > 0 && l.ID <= got[i-1].ID {
			t.Fatalf("ids not ascending at %d", i)
		}
	}
	if err := s.AppendLogLines(context.Background(), []run.LogLine{{ChangeID: "nope", StepID: f.Steps[0].ID}}); err == nil {
		t.Fatal("a line with a bad change id was stored")
	}
}

// TestAppendLogLinesVisibleInIDOrder: while parallel writers append to one
// change, a reader that only ever asks for "ids above the last I saw" must
// see every line: ids of a change become visible in order.
func TestAppendLogLinesVisibleInIDOrder(t *testing.T) {
	t.Parallel()
	s := logStore(t)
	f := testutil.InsertLogFixture(t, s, "visible", 4)
	const batches, per = 40, 25
	var wg sync.WaitGroup
	for _, step := range f.Steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				lines := make([]run.LogLine, per)
				for i := range lines {
					lines[i] = run.LogLine{ChangeID: f.Change.ID, StepID: step.ID, Message: fmt.Sprintf("%d/%d", b, i)}
				}
				if err := s.AppendLogLines(context.Background(), lines); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	seen, after := 0, int64(0)
	for finished := false; !finished; {
		select {
		case <-writersDone:
			finished = true // one more read after the last commit
		default:
		}
		rows, err := run.LogLinesAfter(context.Background(), s.LogLineList(f.Change.ID, ""), listquery.List{}, after, 100000)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) > 0 {
			seen += len(rows)
			after = rows[len(rows)-1].ID
		}
	}
	if want := len(f.Steps) * batches * per; seen != want {
		t.Fatalf("the follower saw %d lines of %d: some became visible behind its cursor", seen, want)
	}
}

func wakes(t *testing.T, sub *run.LogSubscription) {
	t.Helper()
	select {
	case <-sub.C:
	case <-time.After(10 * time.Second):
		t.Fatal("follower not woken")
	}
}

func asleep(t *testing.T, sub *run.LogSubscription) {
	t.Helper()
	select {
	case <-sub.C:
		t.Fatal("follower woken for nothing")
	default:
	}
}

func TestLogSubscriptionsWake(t *testing.T) {
	t.Parallel()
	s := logStore(t)
	a := testutil.InsertLogFixture(t, s, "a", 1)
	b := testutil.InsertLogFixture(t, s, "b", 1)
	subA := s.SubscribeLogLines(a.Change.ID)
	defer subA.Close()
	if testutil.Dialect() == db.Postgres {
		wakes(t, subA) // the listener is connected
	}
	ctx := context.Background()
	if err := s.AppendLogLines(ctx, []run.LogLine{{ChangeID: b.Change.ID, StepID: b.Steps[0].ID, Message: "b"}}); err != nil {
		t.Fatal(err)
	}
	asleep(t, subA)
	if err := s.AppendLogLines(ctx, []run.LogLine{{ChangeID: a.Change.ID, StepID: a.Steps[0].ID, Message: "a"}}); err != nil {
		t.Fatal(err)
	}
	wakes(t, subA)
	if err := s.NotifyLogFollowers(ctx, a.Change.ID); err != nil {
		t.Fatal(err)
	}
	wakes(t, subA)
}

// TestLogNotificationsCrossProcesses: on PostgreSQL a follower served by
// another replica (another connection pool) wakes through LISTEN/NOTIFY.
func TestLogNotificationsCrossProcesses(t *testing.T) {
	if testutil.Dialect() != db.Postgres {
		t.Skip("LISTEN/NOTIFY is PostgreSQL's")
	}
	t.Parallel()
	url := testutil.DatabaseURL(t)
	writer, reader := testutil.StoreAt(t, url), testutil.StoreAt(t, url)
	f := testutil.InsertLogFixture(t, writer, "replicas", 1)
	sub := reader.SubscribeLogLines(f.Change.ID)
	defer sub.Close()
	wakes(t, sub) // connected
	line := run.LogLine{ChangeID: f.Change.ID, StepID: f.Steps[0].ID, Message: strings.Repeat("x", 10)}
	if err := writer.AppendLogLines(context.Background(), []run.LogLine{line}); err != nil {
		t.Fatal(err)
	}
	wakes(t, sub)
	if got := readLog(t, reader, f.Change.ID); len(got) != 1 {
		t.Fatalf("reader sees %d lines", len(got))
	}
}
