package handler

import (
	"github.com/stewardhq/steward/model"
	whmodel "github.com/stewardhq/steward/model/webhook"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// EventDocument is the body of a webhook delivery: the event's JSON:API
// document, exactly what GET /api/events/{id} answers. The delivery
// service is given this function, so the domain never imports handler.
func EventDocument(ev *model.Event) ([]byte, error) {
	return jsonapi.Encode(jsonapi.Document{Data: renderEvent(ev, &jsonapi.Query{})}, nil)
}

type webhookAttributes struct {
	URL            string   `json:"url"`
	Description    string   `json:"description"`
	EventTypes     []string `json:"event_types"`
	PathPrefix     string   `json:"path_prefix"`
	Enabled        bool     `json:"enabled"`
	DisabledReason *string  `json:"disabled_reason"`
	FailingSince   *string  `json:"failing_since"`
	CreatedBy      string   `json:"created_by"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	// Secret is the signing secret, present only in the answer that made
	// it (create, rotate_secret).
	Secret string `json:"secret,omitempty"`
}

func webhookLink(id string) string { return "/api/webhooks/" + id }

func webhookResource(w *whmodel.Webhook) *jsonapi.Resource {
	return &jsonapi.Resource{Type: "webhook", ID: w.ID,
		Attributes: &webhookAttributes{URL: w.URL, Description: w.Description, EventTypes: orNone(w.EventTypes),
			PathPrefix: w.PathPrefix, Enabled: w.Enabled, DisabledReason: w.DisabledReason,
			FailingSince: jsonapi.TimestampPtr(w.FailingSince), CreatedBy: w.CreatedBy,
			CreatedAt: jsonapi.Timestamp(w.CreatedAt), UpdatedAt: jsonapi.Timestamp(w.UpdatedAt), Secret: w.PlainSecret},
		Links: map[string]string{"self": webhookLink(w.ID), "deliveries": webhookLink(w.ID) + "/deliveries"}}
}

func orNone(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

type deliveryAttributes struct {
	EventID       string         `json:"event_id"`
	EventType     string         `json:"event_type"`
	Status        string         `json:"status"`
	Attempts      int            `json:"attempts"`
	NextAttemptAt *string        `json:"next_attempt_at"`
	LastStatus    *int           `json:"last_status"`
	LastError     *string        `json:"last_error"`
	DeliveredAt   *string        `json:"delivered_at"`
	CreatedAt     string         `json:"created_at"`
	UpdatedAt     string         `json:"updated_at"`
	AttemptLog    *[]attemptWire `json:"attempt_log,omitempty"` // on a show only
}

// attemptWire is one attempt of a delivery, oldest first.
type attemptWire struct {
	Number         int            `json:"number"`
	StartedAt      string         `json:"started_at"`
	RequestHeaders map[string]any `json:"request_headers"`
	ResponseStatus *int           `json:"response_status"`
	ResponseBody   *string        `json:"response_body"`
	LatencyMS      float64        `json:"latency_ms"`
	Error          *string        `json:"error"`
}

// deliveryResource renders d; attempts (its log) only on a show.
func deliveryResource(d *whmodel.Delivery, attempts []whmodel.Attempt) *jsonapi.Resource {
	attrs := &deliveryAttributes{EventID: d.EventID, EventType: d.EventType, Status: d.Status, Attempts: d.Attempts,
		NextAttemptAt: jsonapi.TimestampPtr(d.NextAttemptAt), LastStatus: d.LastStatus, LastError: d.LastError,
		DeliveredAt: jsonapi.TimestampPtr(d.DeliveredAt), CreatedAt: jsonapi.Timestamp(d.CreatedAt), UpdatedAt: jsonapi.Timestamp(d.UpdatedAt)}
	if attempts != nil {
		log := make([]attemptWire, len(attempts))
		attrs.AttemptLog = &log
		for i, a := range attempts {
			log[i] = attemptWire{Number: a.Number, StartedAt: jsonapi.Timestamp(a.StartedAt), RequestHeaders: a.RequestHeaders,
				ResponseStatus: a.ResponseStatus, ResponseBody: a.ResponseBody, LatencyMS: float64(a.LatencyUS) / 1000, Error: a.Error}
		}
	}
	self := webhookLink(d.WebhookID) + "/deliveries/" + d.ID
	return &jsonapi.Resource{Type: "webhook_delivery", ID: d.ID, Attributes: attrs,
		Relationships: map[string]*jsonapi.Relationship{
			"webhook": jsonapi.ToOne("webhook", d.WebhookID, webhookLink(d.WebhookID)),
			"event":   jsonapi.ToOne("event", d.EventID, "/api/events/"+d.EventID),
		},
		Links: map[string]string{"self": self, "redeliver": self + "/redeliver"}}
}

type hookAttributes struct {
	Name              string         `json:"name"`
	ParentPath        string         `json:"parent_path"`
	Action            *string        `json:"action"`
	WorkflowCode      *string        `json:"workflow_code"`
	Version           *int           `json:"version"`
	Enabled           bool           `json:"enabled"`
	GitRemoteName     *string        `json:"git_remote_name"`
	GitRev            *string        `json:"git_rev"`
	TemplateVersion   *string        `json:"template_version"`
	PropertyOverrides map[string]any `json:"property_overrides"`
	AllowRevOverride  bool           `json:"allow_rev_override"`
	CreatedBy         string         `json:"created_by"`
	CreatedAt         string         `json:"created_at"`
	UpdatedAt         string         `json:"updated_at"`
	Secret            string         `json:"secret,omitempty"` // in the create and rotation answers only
}

func hookLink(id string) string { return "/api/hooks/" + id }

func hookResource(h *whmodel.Hook) *jsonapi.Resource {
	var action *string
	if h.Action != "" {
		action = &h.Action
	}
	return &jsonapi.Resource{Type: "hook", ID: h.ID,
		Attributes: &hookAttributes{Name: h.Name, ParentPath: h.NodePath, Action: action, WorkflowCode: h.WorkflowCode,
			Version: h.WorkflowVersion, Enabled: h.Enabled, GitRemoteName: h.GitRemoteName,
			GitRev: h.GitRev, TemplateVersion: h.TemplateVersion, PropertyOverrides: h.PropertyOverrides,
			AllowRevOverride: h.AllowRevOverride, CreatedBy: h.CreatedBy, CreatedAt: jsonapi.Timestamp(h.CreatedAt),
			UpdatedAt: jsonapi.Timestamp(h.UpdatedAt), Secret: h.PlainSecret},
		Links: map[string]string{"self": hookLink(h.ID), "trigger": hookLink(h.ID) + "/trigger",
			"requests": hookLink(h.ID) + "/requests", "parent": "/api" + h.NodePath}}
}

type hookRequestAttributes struct {
	Outcome       string  `json:"outcome"`
	Status        int     `json:"status"`
	Reason        *string `json:"reason"`
	Scheme        *string `json:"scheme"`
	GitRev        *string `json:"git_rev"`
	ChangeID      *string `json:"change_id"`
	WorkflowRunID *string `json:"workflow_run_id"`
	RemoteAddr    *string `json:"remote_addr"`
	CreatedAt     string  `json:"created_at"`
}

func hookRequestResource(q *whmodel.HookRequest) *jsonapi.Resource {
	links := map[string]string{"self": hookLink(q.HookID) + "/requests/" + q.ID, "hook": hookLink(q.HookID)}
	if q.ChangeID != nil {
		links["change"] = "/api/changes/" + *q.ChangeID
	}
	if q.WorkflowRunID != nil {
		links["workflow_run"] = "/api/workflow_runs/" + *q.WorkflowRunID
	}
	return &jsonapi.Resource{Type: "hook_request", ID: q.ID,
		Attributes: &hookRequestAttributes{Outcome: q.Outcome, Status: q.Status, Reason: q.Reason, Scheme: q.Scheme,
			GitRev: q.GitRev, ChangeID: q.ChangeID, WorkflowRunID: q.WorkflowRunID, RemoteAddr: q.RemoteAddr, CreatedAt: jsonapi.Timestamp(q.CreatedAt)},
		Links: links}
}
