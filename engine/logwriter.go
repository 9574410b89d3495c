package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/model/run"
)

const (
	// MaxLogLineBytes is the longest message one log line holds; longer
	// output lines are stored as several consecutive lines, never dropped.
	MaxLogLineBytes = 64 << 10
	// logBatchLines and logFlushEvery: a batch is stored when this many lines
	// wait, or when the oldest has waited this long, whichever comes first.
	logBatchLines = 4000
	logFlushEvery = 100 * time.Millisecond
	// logMaxPending bounds the bytes waiting or being stored; beyond it Write
	// blocks (the process then blocks on its pipe) rather than memory growing.
	logMaxPending = 4 << 20
	// logLineOverhead is what a line costs beyond its text (struct, headers),
	// so that a flood of empty lines is bounded too.
	logLineOverhead = 96
	logStoreTimeout = 30 * time.Second
)

// logRetryDelays are the pauses between attempts to store a batch before it
// is given up (the database is gone for longer than a step should wait).
var logRetryDelays = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, 5 * time.Second}

// LogWriter turns a step's output into log lines: an io.Writer shared by the
// process's stdout and stderr, safe for concurrent use. It splits lines,
// stamps each with the time it was completed, and stores them in batches from
// one goroutine, so lines land in the order they were written.
type LogWriter struct {
	store            *run.Store
	changeID, stepID string

	mu           sync.Mutex
	space        *sync.Cond // signalled when stored batches free room
	partial      []byte     // the current line, not yet ended by a newline
	pending      []run.LogLine
	spare        []run.LogLine // the last stored batch's array, reused
	pendingBytes int
	bytes        int // pending and in flight
	peak         int // the most bytes ever held, for tests of the bound
	closed       bool
	err          error
	dropped      int
	stored       int // lines stored, for metrics

	kick chan struct{}
	done chan struct{}
}

// NewLogWriter starts a writer for one step of a change. Close it when the
// process has exited: it stores what is left.
func NewLogWriter(s *run.Store, changeID, stepID string) *LogWriter {
	w := &LogWriter{store: s, changeID: changeID, stepID: stepID,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	w.space = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Stored is how many lines the writer has stored so far.
func (w *LogWriter) Stored() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stored
}

// Write splits p into lines. It blocks while too much output waits to be
// stored and never reports a storage failure (Close does): a process should
// not die because its log could not be written.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if w.closed {
			return n - len(p), io.ErrClosedPipe
		}
		seg, rest, ended := p, []byte(nil), false
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			seg, rest, ended = p[:i], p[i+1:], true
		}
		if room := MaxLogLineBytes - len(w.partial); len(seg) > room {
			w.partial = append(w.partial, seg[:room]...)
			p = p[room:]
			w.emitChunk()
		} else {
			p = rest
			if !ended {
				w.partial = append(w.partial, seg...)
				break
			}
			if len(w.partial) == 0 {
				w.emit(string(seg))
			} else {
				w.partial = append(w.partial, seg...)
				msg := string(w.partial)
				w.partial = w.partial[:0]
				w.emit(msg)
			}
		}
		// Only here, with the partial line consistent: other writers may
		// run while this one waits.
		w.waitForRoom()
	}
	return n, nil
}

// emitChunk stores a full partial line as one line, cut at a character
// boundary so no UTF-8 sequence is split; the cut-off bytes start the next.
func (w *LogWriter) emitChunk() {
	cut := len(w.partial)
	for back := 1; back < utf8.UTFMax && back <= cut; back++ {
		if utf8.RuneStart(w.partial[cut-back]) {
			if !utf8.FullRune(w.partial[cut-back:]) {
				cut -= back
			}
			break
		}
	}
	if cut == 0 {
		cut = len(w.partial)
	}
	msg := string(w.partial[:cut])
	w.partial = w.partial[:copy(w.partial, w.partial[cut:])]
	w.emit(msg)
}

// emit queues one complete line. Called with mu held.
func (w *LogWriter) emit(msg string) {
	msg = strings.TrimSuffix(msg, "\r")
	w.pending = append(w.pending, run.LogLine{ChangeID: w.changeID, StepID: w.stepID, Message: msg, LoggedAt: w.store.Now()})
	size := len(msg) + logLineOverhead
	w.pendingBytes += size
	w.bytes += size
	w.peak = max(w.peak, w.bytes)
	if len(w.pending) >= logBatchLines || w.pendingBytes >= logMaxPending/2 {
		w.signal()
	}
}

// waitForRoom blocks while the writer is over its memory bound. Called with
// mu held (and released while waiting).
func (w *LogWriter) waitForRoom() {
	for w.bytes >= logMaxPending && !w.closed {
		w.space.Wait()
	}
}

func (w *LogWriter) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Line writes msg as log lines of its own (one per line of msg): the engine's
// notes such as a lost worker or a skipped step. After Close it stores them
// at once.
func (w *LogWriter) Line(msg string) {
	msgs := splitMessage(msg)
	w.mu.Lock()
	for len(msgs) > 0 && !w.closed {
		w.emit(msgs[0])
		msgs = msgs[1:]
		w.waitForRoom()
	}
	w.mu.Unlock()
	if len(msgs) == 0 {
		return
	}
	lines := make([]run.LogLine, len(msgs))
	for i, m := range msgs {
		lines[i] = run.LogLine{ChangeID: w.changeID, StepID: w.stepID, Message: m, LoggedAt: w.store.Now()}
	}
	if err := w.storeBatch(lines); err != nil {
		w.store.Log.Error("log line lost", "change_id", w.changeID, "step_id", w.stepID, "err", err)
	}
}

// splitMessage cuts an engine message into lines of at most MaxLogLineBytes.
func splitMessage(msg string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(msg, "\n"), "\n") {
		for len(line) > MaxLogLineBytes {
			cut := MaxLogLineBytes
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			out = append(out, line[:cut])
			line = line[cut:]
		}
		out = append(out, line)
	}
	return out
}

// Close stores the unfinished last line and everything pending, stops the
// writer and reports the first batch that could not be stored.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	if !w.closed {
		if len(w.partial) > 0 {
			w.emit(string(w.partial))
			w.partial = nil
		}
		w.closed = true
		w.space.Broadcast()
		w.signal()
	}
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// run stores batches: when one is full, when the ticker says the oldest
// line has waited long enough, and until nothing is left after Close.
func (w *LogWriter) run() {
	defer close(w.done)
	tick := time.NewTicker(logFlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-w.kick:
		case <-tick.C:
		}
		for {
			batch, size, closed := w.take()
			if len(batch) > 0 {
				if err := w.storeBatch(batch); err != nil {
					w.failed(err, len(batch))
				}
				w.release(batch, size)
			}
			if !closed {
				break
			}
			if len(batch) == 0 {
				return
			}
		}
	}
}

func (w *LogWriter) take() ([]run.LogLine, int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch, size := w.pending, w.pendingBytes
	w.pending, w.spare, w.pendingBytes = w.spare[:0], nil, 0
	return batch, size, w.closed
}

// release frees the room a stored batch held and keeps its array for reuse
// (cleared, so the stored strings can be collected).
func (w *LogWriter) release(batch []run.LogLine, size int) {
	clear(batch)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bytes -= size
	if w.spare == nil && cap(batch) <= 4*logBatchLines {
		w.spare = batch[:0]
	}
	w.space.Broadcast()
}

func (w *LogWriter) storeBatch(lines []run.LogLine) error {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), logStoreTimeout)
		err := w.store.AppendLogLines(ctx, lines)
		cancel()
		if err == nil {
			w.mu.Lock()
			w.stored += len(lines)
			w.mu.Unlock()
		}
		if err == nil || attempt == len(logRetryDelays) {
			return err
		}
		time.Sleep(logRetryDelays[attempt])
	}
}

func (w *LogWriter) failed(err error, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropped += n
	if w.err == nil {
		w.err = fmt.Errorf("storing log lines of step %s: %w", w.stepID, err)
	}
	w.store.Log.Error("log lines dropped: the database refused them", "change_id", w.changeID,
		"step_id", w.stepID, "lines", n, "dropped_total", w.dropped, "err", err)
}
