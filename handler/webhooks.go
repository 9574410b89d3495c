package handler

import (
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	whmodel "github.com/stewardhq/steward/model/webhook"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

var (
	webhookListSpec     = &jsonapi.Spec{List: true, Keyset: "id", Filters: whmodel.Filters}
	deliveryListSpec    = &jsonapi.Spec{List: true, Keyset: "id", Filters: whmodel.DeliveryFilters}
	webhookCreateFields = []string{"url", "description", "event_types", "path_prefix", "enabled"}
	webhookUpdateFields = append([]string{"rotate_secret"}, webhookCreateFields...)
	webhookCSVColumns   = []string{"url", "description", "path_prefix", "enabled", "created_by", "created_at", "updated_at"}
	deliveryCSVColumns  = []string{"event_id", "event_type", "status", "attempts", "last_status", "delivered_at", "created_at"}
)

// webhookStore is the webhook view of the API's store (a snapshot's too).
func (a *API) webhookStore() *whmodel.Store { return whmodel.New(a.Store, a.WebhookAllow) }

func (a *API) routeWebhooks(r *mux.Router) {
	r.HandleFunc("/api/webhooks", a.handle(a.listWebhooks)).Methods(http.MethodGet)
	r.HandleFunc("/api/webhooks", a.handle(a.createWebhook)).Methods(http.MethodPost)
	r.HandleFunc("/api/webhooks/{webhook_id}", a.handle(a.showWebhook)).Methods(http.MethodGet)
	r.HandleFunc("/api/webhooks/{webhook_id}", a.handle(a.updateWebhook)).Methods(http.MethodPatch)
	r.HandleFunc("/api/webhooks/{webhook_id}", a.handle(a.deleteWebhook)).Methods(http.MethodDelete)
	r.HandleFunc("/api/webhooks/{webhook_id}/deliveries", a.handle(a.listDeliveries)).Methods(http.MethodGet)
	r.HandleFunc("/api/webhooks/{webhook_id}/deliveries/{delivery_id}", a.handle(a.showDelivery)).Methods(http.MethodGet)
	r.HandleFunc("/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", a.handle(a.redeliver)).Methods(http.MethodPost)
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, webhookListSpec)
	if err != nil {
		return err
	}
	src := a.webhookStore().List(actorOf(r))
	l, written, err := listPage(a, w, r, q, src, webhookCSVColumns, webhookResource, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// webhookInScope parses the query and loads the subscription in the URL.
func (a *API) webhookInScope(r *http.Request, spec *jsonapi.Spec) (*jsonapi.Query, *whmodel.Webhook, error) {
	q, err := jsonapi.ParseQuery(r, spec)
	if err != nil {
		return nil, nil, err
	}
	h, err := a.webhookStore().Get(r.Context(), actorOf(r), mux.Vars(r)["webhook_id"])
	return q, h, err
}

func (a *API) showWebhook(w http.ResponseWriter, r *http.Request) error {
	q, h, err := a.webhookInScope(r, plainSpec)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: webhookResource(h)}, q)
	return nil
}

// decodeWebhook reads a subscription body; id is the one updated ("" on create).
func decodeWebhook(r *http.Request, id string) (whmodel.Input, error) {
	var in whmodel.Input
	allowed := webhookCreateFields
	if id != "" {
		allowed = webhookUpdateFields
	}
	body, err := jsonapi.DecodeBody(r, "webhook", allowed)
	if err != nil {
		return in, err
	}
	idCheck := body.NoClientID
	if id != "" {
		idCheck = func() error { return body.CheckID(id) }
	}
	var url, desc, prefix string
	var enabled bool
	if err := steward.First(idCheck(), body.String("url", &url), body.String("description", &desc),
		body.String("path_prefix", &prefix), body.Bool("enabled", &enabled), body.Bool("rotate_secret", &in.RotateSecret),
		body.Strings("event_types", &in.EventTypes)); err != nil {
		return in, err
	}
	if body.Has("event_types") && in.EventTypes == nil {
		in.EventTypes = []string{}
	}
	if body.Has("url") {
		in.URL = &url
	}
	if body.Has("description") {
		in.Description = &desc
	}
	if body.Has("path_prefix") {
		in.PathPrefix = &prefix
	}
	if body.Has("enabled") {
		in.Enabled = &enabled
	}
	return in, nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, plainSpec)
	if err != nil {
		return err
	}
	in, err := decodeWebhook(r, "")
	if err != nil {
		return err
	}
	h, err := a.webhookStore().Create(r.Context(), actorOf(r), in)
	if err != nil {
		return err
	}
	res := webhookResource(h)
	w.Header().Set("Location", res.Links["self"])
	w.Header().Set("Cache-Control", "no-store") // the secret is in it
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res}, q)
	return nil
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	q, h, err := a.webhookInScope(r, plainSpec)
	if err != nil {
		return err
	}
	in, err := decodeWebhook(r, h.ID)
	if err != nil {
		return err
	}
	if h, err = a.webhookStore().Update(r.Context(), actorOf(r), h, in); err != nil {
		return err
	}
	if in.RotateSecret {
		w.Header().Set("Cache-Control", "no-store")
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: webhookResource(h)}, q)
	return nil
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.webhookInScope(r, plainSpec)
	if err != nil {
		return err
	}
	if err := a.webhookStore().Delete(r.Context(), actorOf(r), h); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	q, h, err := a.webhookInScope(r, deliveryListSpec)
	if err != nil {
		return err
	}
	src := a.webhookStore().Deliveries(actorOf(r), h)
	row := func(d *whmodel.Delivery) *jsonapi.Resource { return deliveryResource(d, nil) }
	l, written, err := listPage(a, w, r, q, src, deliveryCSVColumns, row, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// deliveryInScope loads the subscription and the delivery in the URL.
func (a *API) deliveryInScope(r *http.Request) (*jsonapi.Query, *whmodel.Webhook, *whmodel.Delivery, error) {
	q, h, err := a.webhookInScope(r, plainSpec)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := a.webhookStore().GetDelivery(r.Context(), actorOf(r), h, mux.Vars(r)["delivery_id"])
	return q, h, d, err
}

// showDelivery answers the delivery with its attempt log, from one snapshot.
func (a *API) showDelivery(w http.ResponseWriter, r *http.Request) error {
	var q *jsonapi.Query
	var res *jsonapi.Resource
	err := a.snapshot(r.Context(), func(v *API) error {
		var d *whmodel.Delivery
		var err error
		if q, _, d, err = v.deliveryInScope(r); err != nil {
			return err
		}
		attempts, err := v.webhookStore().AttemptsOf(r.Context(), []string{d.ID})
		res = deliveryResource(d, append([]whmodel.Attempt{}, attempts[d.ID]...))
		return err
	})
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: res}, q)
	return nil
}

// redeliver queues the delivery again now and answers it (202: the attempt
// happens after the answer).
func (a *API) redeliver(w http.ResponseWriter, r *http.Request) error {
	q, h, d, err := a.deliveryInScope(r)
	if err != nil {
		return err
	}
	if d, err = a.webhookStore().Redeliver(r.Context(), actorOf(r), h, d); err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusAccepted, jsonapi.Document{Data: deliveryResource(d, nil)}, q)
	return nil
}
