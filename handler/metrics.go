package handler

import (
	"net/http"

	"github.com/stewardhq/steward/model"

	steward "github.com/stewardhq/steward"
)

// metricsPath is where Prometheus scrapes.
const metricsPath = "/metrics"

// metrics serves the Prometheus metrics. Like every endpoint but health and
// the docs it needs a token: what runs where is not for anyone who can reach
// the port (a scrape config sets `authorization: {credentials: <token>}`).
func (a *API) metrics(w http.ResponseWriter, r *http.Request) error {
	if a.Metrics == nil {
		return steward.Errorf(steward.KindNotFound, "metrics are not collected by this server")
	}
	if err := actorOf(r).RequireRead(model.AdminPath); err != nil {
		return err
	}
	a.Metrics.Handler().ServeHTTP(w, r)
	return nil
}
