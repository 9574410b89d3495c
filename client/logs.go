package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// logPageSize is how many lines one page of EachLogLine reads (the most the
// API allows).
const logPageSize = 1000

// EachLogLine calls fn with every line the change has stored so far, oldest
// first, paging with page[size] and links.next. It stops at fn's first error
// and returns it.
func (c *Client) EachLogLine(ctx context.Context, changeID string, fn func(*LogLine) error) error {
	path := "/api/changes/" + escape(changeID) + "/log_lines"
	query := url.Values{"page[size]": {strconv.Itoa(logPageSize)}}
	for {
		page, err := getList[LogLine](ctx, c, path, query)
		if err != nil {
			return err
		}
		for _, l := range page.Items {
			if err := fn(l); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		if path, query, err = splitNext(page.Next); err != nil {
			return fmt.Errorf("follow links.next %q: %w", page.Next, err)
		}
	}
}

// FollowOptions tune FollowLog; the zero value is ready to use.
type FollowOptions struct {
	// After resumes after the line with this id; "" starts at the first line.
	After string
	// MaxRetries bounds reconnects in a row that deliver no event (default
	// 20); a reconnect that delivers one starts the count again.
	MaxRetries int
	// IdleTimeout drops a connection that sends nothing, not even the
	// server's heartbeat (every 15 s), for this long (default 1 minute).
	IdleTimeout time.Duration
	// OnReconnect, when set, hears why a connection was dropped before the
	// client reconnects.
	OnReconnect func(err error)
}

// FollowLog streams the change's log lines as the server stores them
// (GET /api/changes/{id}/log_lines, Accept: text/event-stream), calling fn
// with each line in order, until the change ends; it returns the change's
// final status. A dropped connection is resumed with Last-Event-ID, the id
// of the last line seen, so no line is lost or repeated: at once after a
// connection that delivered lines, else after the delay the server asked for
// (retry:). A refusal (4xx) is returned as an *Error without retrying; fn's
// error stops the follow and is returned.
func (c *Client) FollowLog(ctx context.Context, changeID string, opts FollowOptions, fn func(*LogLine) error) (string, error) {
	f := &follow{c: c, changeID: changeID, last: opts.After, fn: fn, retry: 2 * time.Second, idle: opts.IdleTimeout}
	if f.idle <= 0 {
		f.idle = time.Minute
	}
	maxRetries := opts.MaxRetries
	if maxRetries <= 0 {
		maxRetries = 20
	}
	failures := 0
	for {
		status, progressed, err := f.once(ctx)
		if err == nil {
			return status, nil
		}
		var cb callbackError
		var apiErr *Error
		switch {
		case errors.As(err, &cb):
			return "", cb.err
		case ctx.Err() != nil:
			return "", ctx.Err()
		case errors.As(err, &apiErr) && apiErr.StatusCode < 500:
			return "", err
		}
		if progressed {
			failures = 0
		} else {
			failures++
		}
		if failures > maxRetries {
			return "", fmt.Errorf("log stream of change %s lost after %d attempts: %w", changeID, failures, err)
		}
		if opts.OnReconnect != nil {
			opts.OnReconnect(err)
		}
		if failures > 0 {
			t := time.NewTimer(f.retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return "", ctx.Err()
			case <-t.C:
			}
		}
	}
}

// callbackError carries fn's error out of a stream, so it is not retried.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// follow is the state a follow keeps across connections.
type follow struct {
	c        *Client
	changeID string
	last     string // the id of the last line delivered: the next Last-Event-ID
	fn       func(*LogLine) error
	retry    time.Duration // the reconnect delay, set by the server's retry field
	idle     time.Duration
}

// errStreamCut is a stream that closed before its end event.
var errStreamCut = errors.New("the log stream closed before the change ended")

// once reads one connection: the final status when it got the end event,
// else the error that ended it and whether it delivered any event.
func (f *follow) once(ctx context.Context) (status string, progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watchdog cancels a connection gone silent; every line read resets it.
	watchdog := time.AfterFunc(f.idle, cancel)
	defer watchdog.Stop()
	h := http.Header{"Accept": {"text/event-stream"}}
	if f.last != "" {
		h.Set("Last-Event-ID", f.last)
	}
	resp, err := f.c.send(ctx, request{method: http.MethodGet, path: "/api/changes/" + escape(f.changeID) + "/log_lines", header: h})
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return "", false, fmt.Errorf("the log stream answered %q, not text/event-stream", resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	var id, event string
	var data strings.Builder
	for {
		raw, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamCut
			}
			return "", progressed, err
		}
		watchdog.Reset(f.idle)
		line := strings.TrimRight(raw, "\r\n")
		if line != "" {
			f.field(line, &id, &event, &data)
			continue
		}
		// A blank line dispatches the event gathered so far.
		switch {
		case event == "end":
			var end struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(data.String()), &end); err != nil {
				return "", progressed, fmt.Errorf("read the log stream's end event: %w", err)
			}
			return end.Status, progressed, nil
		case data.Len() > 0:
			l, err := decodeLogEvent([]byte(data.String()))
			if err != nil {
				return "", progressed, err
			}
			if id == "" {
				id = l.ID
			}
			progressed = true
			if !after(id, f.last) {
				break // already delivered: a resume never repeats a line
			}
			if err := f.fn(l); err != nil {
				return "", progressed, callbackError{err}
			}
			f.last = id
		}
		id, event = "", ""
		data.Reset()
	}
}

// field applies one "name: value" line of an event; comments (":...") are
// heartbeats and are skipped.
func (f *follow) field(line string, id, event *string, data *strings.Builder) {
	name, value, _ := strings.Cut(line, ":")
	value = strings.TrimPrefix(value, " ")
	switch name {
	case "id":
		*id = value
	case "event":
		*event = value
	case "data":
		if data.Len() > 0 {
			data.WriteByte('\n')
		}
		data.WriteString(value)
	case "retry":
		if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
			f.retry = time.Duration(ms) * time.Millisecond
		}
	}
}

// after reports whether line id a comes after b; ids are decimal sequence
// numbers, and "" is before every line.
func after(a, b string) bool {
	if b == "" {
		return true
	}
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil {
		return a != b
	}
	return x > y
}
