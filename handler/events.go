package handler

import (
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// eventAttributes flattens an event: its stored attributes, then the reserved
// ones, which always win.
func eventAttributes(ev *model.Event) map[string]any {
	attrs := make(map[string]any, len(ev.Attributes)+4)
	for k, v := range ev.Attributes {
		attrs[k] = v
	}
	attrs["type"] = ev.Type
	attrs["username"] = ev.Username
	attrs["system"] = ev.System
	attrs["created_at"] = jsonapi.Timestamp(ev.CreatedAt)
	return attrs
}

// eventResource is the event as a plain resource (the CSV download's row).
func eventResource(ev *model.Event) *jsonapi.Resource {
	return &jsonapi.Resource{Type: "event", ID: ev.ID, Attributes: eventAttributes(ev)}
}

// eventWire is an event as the reference renders it. It is not a
// jsonapi.Resource because the reference's source relationship has a link
// member named "source" that is null for events about no record, which
// jsonapi.Relationship (string-only links) cannot express.
type eventWire struct {
	Type          string                    `json:"type"`
	ID            string                    `json:"id"`
	Attributes    map[string]any            `json:"attributes,omitempty"`
	Relationships map[string]eventSourceRel `json:"relationships,omitempty"`
	Links         map[string]string         `json:"links"`
}

type eventSourceRel struct {
	Data  *jsonapi.Identifier `json:"data,omitempty"`
	Links map[string]*string  `json:"links"`
}

// eventSourceTypes are the source types the reference's event schema admits.
// An event about anything else (a change, an asset) keeps its source link but
// leaves the linkage out rather than break that schema.
var eventSourceTypes = map[string]bool{"project": true, "environment": true, "step": true}

// renderEvent builds the wire form, keeping only fields[event] when asked.
func renderEvent(ev *model.Event, q *jsonapi.Query) *eventWire {
	src := eventSourceRel{Links: map[string]*string{"source": eventSourceLink(ev)}}
	if ev.SourceType != nil && ev.SourceID != nil && eventSourceTypes[*ev.SourceType] {
		src.Data = &jsonapi.Identifier{Type: *ev.SourceType, ID: *ev.SourceID}
	}
	out := &eventWire{Type: "event", ID: ev.ID, Attributes: eventAttributes(ev),
		Relationships: map[string]eventSourceRel{"source": src},
		Links:         map[string]string{"self": "/api/events/" + ev.ID}}
	if want, ok := q.Fields["event"]; ok {
		keep := map[string]bool{}
		for _, f := range want {
			keep[f] = true
		}
		for k := range out.Attributes {
			if !keep[k] {
				delete(out.Attributes, k)
			}
		}
		if !keep["source"] {
			out.Relationships = nil
		}
	}
	return out
}

var (
	// Events are an audit log: 10 by default, up to 1000 a request.
	eventListSpec   = &jsonapi.Spec{List: true, Keyset: "id", DefaultLimit: 10, MaxLimit: 1000, Filters: model.EventFilters}
	eventCSVColumns = []string{"type", "username", "system", "created_at"}
)

func (a *API) routeEvents(r *mux.Router) {
	r.HandleFunc("/api/events", a.handle(a.listEvents)).Methods(http.MethodGet)
	r.HandleFunc("/api/events", a.handle(a.createEvent)).Methods(http.MethodPost)
	r.HandleFunc("/api/events/{event_id}", a.handle(a.showEvent)).Methods(http.MethodGet)
}

// listEvents answers oldest to newest. Without an explicit sort or paging the
// page is the LATEST limit events (in ascending order), which is what a reader
// of an audit trail wants from "the last 10 events"; partial_response then
// says older ones exist. With sort, the first limit rows in that order; with
// page[size]/page[after], a walk from the oldest event forwards.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, eventListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.Store.EventList()
	if downloadCSV(a, w, r, q, src, eventCSVColumns, eventResource) {
		return nil
	}
	var page model.Page[model.Event]
	if q.Paged() || len(q.Sorts) > 0 {
		page, err = src.Fetch(ctx, q.List())
	} else {
		page, err = model.LatestEvents(ctx, src, q.List())
	}
	if err != nil {
		return err
	}
	// ListDocument builds meta and links.next from resources; the data is then
	// swapped for the wire form. The reference's event_array requires
	// meta.partial_response on every list.
	ids := make([]*jsonapi.Resource, len(page.Rows))
	data := make([]*eventWire, len(page.Rows))
	for i := range page.Rows {
		ids[i] = &jsonapi.Resource{Type: "event", ID: page.Rows[i].ID}
		data[i] = renderEvent(&page.Rows[i], q)
	}
	doc := jsonapi.ListDocument(r, q, ids, page.More, true)
	doc.Data = data
	jsonapi.Render(w, http.StatusOK, doc, q)
	return nil
}

func (a *API) showEvent(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, plainSpec)
	if err != nil {
		return err
	}
	ev, err := a.Store.EventByID(r.Context(), mux.Vars(r)["event_id"])
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: renderEvent(ev, q)}, q)
	return nil
}

// createEvent records a custom event: any attribute keys, type required; who
// sent it is the username and it is never a system event.
func (a *API) createEvent(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "event", nil)
	if err != nil {
		return err
	}
	var typ string
	if err := steward.First(body.Require("type"), body.String("type", &typ)); err != nil {
		return err
	}
	attrs := model.JSONMap{}
	for k := range body.Attributes() {
		var v any
		if err := body.Value(k, &v); err != nil { // numbers kept exactly
			return err
		}
		attrs[k] = v
	}
	ev, err := a.Store.CreateEvent(r.Context(), actorOf(r), typ, attrs)
	if err != nil {
		return err
	}
	res := renderEvent(ev, &jsonapi.Query{})
	w.Header().Set("Location", res.Links["self"])
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res}, nil)
	return nil
}
