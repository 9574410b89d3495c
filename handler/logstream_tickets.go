package handler

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// A browser's EventSource cannot send an Authorization header, and an API
// token in a URL ends up in histories and proxy logs. So a client with a
// token asks for a ticket (POST /api/changes/{id}/log_stream_tickets) and
// opens the stream with ?ticket=: it opens that change's live log only, for
// a minute, and is taken off the query before anything else sees it.

const logStreamRoute = "/api/changes/{change_id}/log_lines"

func (a *API) routeLogStreamTickets(r *mux.Router) {
	r.HandleFunc("/api/changes/{change_id}/log_stream_tickets", a.handle(a.createLogStreamTicket)).Methods(http.MethodPost)
}

type logStreamTicketAttributes struct {
	Ticket    string `json:"ticket"`
	ExpiresAt string `json:"expires_at"`
	StreamURL string `json:"stream_url"`
}

func (a *API) createLogStreamTicket(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, &jsonapi.Spec{})
	if err != nil {
		return err
	}
	t, err := a.Store.IssueLogStreamTicket(r.Context(), actorOf(r), mux.Vars(r)["change_id"])
	if err != nil {
		return err
	}
	stream := "/api/changes/" + t.ChangeID + "/log_lines?ticket=" + t.Ticket
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: &jsonapi.Resource{Type: "log_stream_ticket", ID: t.ChangeID,
		Attributes: &logStreamTicketAttributes{Ticket: t.Ticket, ExpiresAt: jsonapi.Timestamp(t.ExpiresAt), StreamURL: stream},
		Links:      map[string]string{"stream": stream}}}, q)
	return nil
}

// takeTicket removes ?ticket= from r's query, returning it: the handlers'
// query parsing never sees it, and nothing logs it.
func takeTicket(r *http.Request) (string, *http.Request) {
	query := r.URL.Query()
	if !query.Has("ticket") {
		return "", r
	}
	ticket := query.Get("ticket")
	query.Del("ticket")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = query.Encode()
	return ticket, r2
}

// ticketActor authenticates a ticket: only on the change's live stream.
func (a *API) ticketActor(r *http.Request, ticket string) (*model.Actor, error) {
	route := mux.CurrentRoute(r)
	tpl := ""
	if route != nil {
		tpl, _ = route.GetPathTemplate()
	}
	if r.Method != http.MethodGet || tpl != logStreamRoute || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return nil, steward.Errorf(steward.KindUnauthorized,
			"a log stream ticket opens only GET %s with Accept: text/event-stream; send Authorization: Bearer <token> here", logStreamRoute)
	}
	return a.Store.AuthenticateLogStreamTicket(r.Context(), mux.Vars(r)["change_id"], ticket)
}
