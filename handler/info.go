package handler

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/stewardhq/steward/pkg/jsonapi"
)

// APIVersion is the version of the OpsChain API Steward speaks.
const APIVersion = "1"

// RunnerImage says what runs steps: Steward has no runner containers; an
// action's `run` script is executed with `sh -e -c` on the host.
const RunnerImage = "sh (host)"

type infoAttributes struct {
	Version       string `json:"version"`
	APIVersion    string `json:"api_version"`
	DBVersion     string `json:"db_version"`
	RunnerImage   string `json:"runner_image"`
	LDAPAvailable bool   `json:"ldap_available?"`
}

func (a *API) routeInfo(r *mux.Router) {
	r.HandleFunc("/api/info", a.handle(a.showInfo)).Methods(http.MethodGet)
}

// showInfo asks the database for its version on every call: it is cheap, and
// it names the server actually answering, not the one Steward started with.
func (a *API) showInfo(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, plainSpec)
	if err != nil {
		return err
	}
	dbVersion, err := a.Store.DatabaseVersion(r.Context())
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: &jsonapi.Resource{
		Type: "info", ID: "0",
		Attributes: &infoAttributes{Version: a.Version, APIVersion: APIVersion, DBVersion: dbVersion,
			RunnerImage: RunnerImage, LDAPAvailable: false},
		Links: map[string]string{"self": "/api/info"},
	}}, q)
	return nil
}
