package handler

import (
	"bufio"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
	"github.com/stewardhq/steward/pkg/jsonstr"
)

var (
	// sseHeartbeat keeps proxies from closing a quiet stream.
	sseHeartbeat = 15 * time.Second
	// ssePoll is the safety net under notifications (a lost LISTEN
	// connection, a change that ended without a last line).
	ssePoll = time.Second
)

// sseGather is how long a woken follower waits before it reads.
const sseGather = 20 * time.Millisecond

// sseBatch is how many lines one query reads at most, and sseBatchBytes
// how many bytes of events it holds in memory until the query is done.
const (
	sseBatch      = 2000
	sseBatchBytes = 1 << 20
)

// errBatchFull ends a read whose events reached sseBatchBytes.
var errBatchFull = errors.New("log event batch full")

// followChangeLog streams the change's lines as Server-Sent Events, from the
// one after Last-Event-ID (or the first), until the change is terminal; then
// an "end" event tells the client not to reconnect. It wakes on new-line
// notifications and polls slowly in case one is missed. Only a refused
// request is returned as an error: once the stream has begun, failures are
// logged and it returns nil.
func (a *API) followChangeLog(w http.ResponseWriter, r *http.Request, changeID string, q *jsonapi.Query, src model.Source[run.LogLine]) error {
	if err := checkStreamQuery(r); err != nil {
		return err
	}
	after, err := lastEventID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// Subscribe before the first read: a line stored in between wakes us.
	sub := a.Store.SubscribeLogLines(changeID)
	defer sub.Close()
	if r.Header.Get("Last-Event-ID") != "" {
		// A browser's EventSource reconnects after every end; 204 is what
		// makes it stop, once the change is over and the client has it all.
		ended, err := a.streamEnded(r, changeID, q, src, after)
		if err != nil {
			return err
		}
		if ended {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise hold events back
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	bw := bufio.NewWriterSize(w, 32<<10)
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	_, _ = bw.WriteString("retry: 2000\n: following change " + changeID + "\n\n")
	if flush() != nil {
		return nil
	}
	heartbeat := time.NewTicker(sseHeartbeat)
	defer heartbeat.Stop()
	poll := time.NewTicker(ssePoll)
	defer poll.Stop()
	var buf []byte
	// While lines flow the change has not ended: its status is asked only
	// when a read found nothing new, which saves a query per wake-up of a
	// busy log and costs the end event one read.
	askStatus := true
	for {
		// The status is read before the lines: every line stored before the
		// change ended is then among those read below.
		var status string
		var complete bool
		if askStatus {
			if status, complete, err = a.Store.LogComplete(ctx, changeID); err != nil {
				a.streamFailed(r, err)
				return nil
			}
		}
		read := 0
		for {
			// The events go to the client once the query is done: a slow
			// client must not hold a database connection.
			buf = buf[:0]
			n, err := a.Store.EachLogRow(ctx, src, q.List(), after, sseBatch, true, func(l *run.LogRow) error {
				buf = appendLogEvent(buf, changeID, l)
				after = l.ID
				read++
				if len(buf) >= sseBatchBytes {
					return errBatchFull
				}
				return nil
			})
			full := errors.Is(err, errBatchFull)
			if err != nil && !full {
				a.streamFailed(r, err)
				return nil
			}
			_, _ = bw.Write(buf)
			if n < sseBatch && !full {
				break
			}
			if flush() != nil {
				return nil
			}
		}
		if complete {
			_, _ = bw.WriteString("event: end\ndata: {\"status\":" + strconv.Quote(status) + "}\n\n")
			_ = flush()
			return nil
		}
		if flush() != nil {
			return nil
		}
		if read == 0 && !askStatus {
			askStatus = true // nothing new: has it ended? At once, not at the next wake-up
			continue
		}
		askStatus = read == 0
	wait:
		select {
		case <-ctx.Done():
			return nil
		case <-a.Stopping:
			return nil // the client resumes with Last-Event-ID, here after a restart or on another replica
		case <-sub.C:
			// Let a busy step's next batches land too: one read then
			// carries several, well within what a follower notices.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(sseGather):
			}
		case <-poll.C:
		case <-heartbeat.C:
			_, _ = bw.WriteString(": heartbeat\n\n")
			if flush() != nil {
				return nil
			}
			goto wait
		}
	}
}

// streamEnded reports whether change id has ended and has no line after
// the one the client last saw.
func (a *API) streamEnded(r *http.Request, changeID string, q *jsonapi.Query, src model.Source[run.LogLine], after int64) (bool, error) {
	_, complete, err := a.Store.LogComplete(r.Context(), changeID)
	if err != nil || !complete {
		return false, err
	}
	lines, err := run.LogLinesAfter(r.Context(), src, q.List(), after, 1)
	return len(lines) == 0, err
}

func (a *API) streamFailed(r *http.Request, err error) {
	if r.Context().Err() == nil {
		a.Log.Error("log stream failed", "request_id", requestID(r.Context()), "err", err)
	}
}

// appendLogEvent appends one line as an event: its id is the line's id
// (what the client sends back as Last-Event-ID), its data the resource as
// JSON, byte for byte what encoding/json makes of logLineResource, written
// by hand because a follower may send a million of them. Every line is of
// changeID, the change followed.
func appendLogEvent(b []byte, changeID string, l *run.LogRow) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, l.ID, 10)
	b = append(b, "\ndata: {\"type\":\"log_line\",\"id\":\""...)
	b = strconv.AppendInt(b, l.ID, 10)
	b = append(b, `","attributes":{"change_id":`...)
	b = jsonstr.Append(b, changeID)
	b = append(b, `,"step_id":`...)
	b = jsonstr.Append(b, l.StepID)
	b = append(b, `,"message":`...)
	b = jsonstr.Append(b, l.Message)
	b = append(b, `,"logged_at":"`...)
	b = l.LoggedAt.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	return append(b, "\"}}\n\n"...)
}

// lastEventID is where a reconnecting client resumes: after this line id.
func lastEventID(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, steward.BadParameter("Last-Event-ID", "Last-Event-ID must be the id of a log line event (a whole number)")
	}
	return n, nil
}

// checkStreamQuery refuses parameters a live stream cannot honour (it always
// runs oldest first, to the end): only conditions apply.
func checkStreamQuery(r *http.Request) error {
	for key := range r.URL.Query() {
		if !strings.HasPrefix(key, "filter[") || key == "filter[sorts]" || key == "filter[s]" {
			return steward.BadParameter(key, "a live log stream (Accept: text/event-stream) takes only filter[...] conditions")
		}
	}
	return nil
}
