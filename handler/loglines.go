package handler

import (
	"bufio"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/model/run"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type logLineAttributes struct {
	ChangeID string `json:"change_id"`
	StepID   string `json:"step_id"`
	Message  string `json:"message"`
	LoggedAt string `json:"logged_at"`
}

// logLineResource renders a line as the reference does: no links, no
// relationships; the id is the line's sequence number, which orders a log.
func logLineResource(l *run.LogLine) *jsonapi.Resource {
	return &jsonapi.Resource{Type: "log_line", ID: strconv.FormatInt(l.ID, 10),
		Attributes: &logLineAttributes{ChangeID: l.ChangeID, StepID: l.StepID, Message: l.Message,
			LoggedAt: jsonapi.Timestamp(l.LoggedAt)}}
}

// logLineListSpec: logs are long, so paging walks the integer id; downloads
// are plain text.
var logLineListSpec = &jsonapi.Spec{List: true, Keyset: "id", IntKeyset: true, DefaultLimit: 100, MaxLimit: 1000,
	DownloadExtensions: []string{"log", "txt"}, Filters: run.LogLineFilters}

func (a *API) routeLogLines(r *mux.Router) {
	r.HandleFunc("/api/changes/{change_id}/log_lines", a.handle(a.changeLogLines)).Methods(http.MethodGet)
	r.HandleFunc("/api/steps/{step_id}/log_lines", a.handle(a.stepLogLines)).Methods(http.MethodGet)
	r.HandleFunc("/api/log_lines", a.handle(a.allLogLines)).Methods(http.MethodGet)
}

// changeLogLines lists a change's lines, or follows them live when the client
// accepts text/event-stream.
func (a *API) changeLogLines(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, logLineListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := canonicalID(mux.Vars(r)["change_id"])
	if _, err := a.Store.LogChangeStatus(ctx, id); err != nil {
		return err
	}
	src := a.Store.LogLineList(id, "")
	if wantsEventStream(r) {
		return a.followChangeLog(w, r, id, q, src)
	}
	return a.serveLogLines(w, r, q, src)
}

func (a *API) stepLogLines(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, logLineListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := canonicalID(mux.Vars(r)["step_id"])
	if err := a.Store.LogStepExists(ctx, id); err != nil {
		return err
	}
	return a.serveLogLines(w, r, q, a.Store.LogLineList("", id))
}

func (a *API) allLogLines(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, logLineListSpec)
	if err != nil {
		return err
	}
	return a.serveLogLines(w, r, q, a.Store.LogLineList("", ""))
}

// serveLogLines answers a list document, or the plain-text download.
func (a *API) serveLogLines(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, src model.Source[run.LogLine]) error {
	if q.Download != "" {
		a.downloadLogLines(w, r, q, src)
		return nil
	}
	if wantsEventStream(r) && !acceptsJSON(r) {
		return &steward.Error{Kind: jsonapi.KindNotAcceptable, Code: "not_acceptable",
			Detail: "only /api/changes/{change_id}/log_lines streams text/event-stream; accept " + jsonapi.MediaType}
	}
	page, err := src.Fetch(r.Context(), q.List())
	if err != nil {
		return err
	}
	data := make([]*jsonapi.Resource, len(page.Rows))
	for i := range page.Rows {
		data[i] = logLineResource(&page.Rows[i])
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.ListDocument(r, q, data, page.More, true), q)
	return nil
}

// downloadLogLines streams every matching message, one per line, oldest first
// whatever the sort, reading in id ranges so memory stays flat.
func (a *API) downloadLogLines(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, src model.Source[run.LogLine]) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", q.Download))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	err := a.Store.EachLogMessage(r.Context(), src, q.List(), 0, func(l *run.LogRow) error {
		_, _ = bw.Write(l.Message)
		return bw.WriteByte('\n')
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil && r.Context().Err() == nil {
		a.Log.Error("log download failed", "request_id", requestID(r.Context()), "err", err)
	}
}

// wantsEventStream reports whether Accept asks for text/event-stream.
func wantsEventStream(r *http.Request) bool {
	return acceptsAny(r, "text/event-stream")
}

func acceptsJSON(r *http.Request) bool {
	if strings.TrimSpace(strings.Join(r.Header.Values("Accept"), "")) == "" {
		return true
	}
	return acceptsAny(r, jsonapi.MediaType, "application/json", "application/*", "*/*")
}

// acceptsAny reports whether Accept lists one of types with a non-zero q.
func acceptsAny(r *http.Request, types ...string) bool {
	for _, part := range strings.Split(strings.Join(r.Header.Values("Accept"), ","), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		for _, t := range types {
			if mt == t {
				return true
			}
		}
	}
	return false
}

// canonicalID is id as it is stored (lower case) when it is a UUID, so a
// client's upper-case id finds the same lines; anything else is left for
// the lookup to refuse.
func canonicalID(id string) string {
	if v, ok := steward.ParseID(id); ok {
		return v
	}
	return id
}
