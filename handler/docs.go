package handler

import (
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/gorilla/mux"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5/static"
	"github.com/swaggest/swgui/v5emb"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// The surfaces a person reaches first: the interactive reference, the root
// and the contract as JSON. None needs a token (see publicPath).
const (
	docsPath         = "/api/docs"
	contractYAMLPath = "/api/openapi.yaml"
	contractJSONPath = "/api/openapi.json"
)

// publicPath: the contract and its reference are readable without a token,
// so a person can learn how to get one, and a hook's trigger authenticates
// by its signature instead; everything else under /api needs one.
func publicPath(p string) bool {
	return p == contractYAMLPath || p == contractJSONPath || p == docsPath || strings.HasPrefix(p, docsPath+"/") ||
		isHookTrigger(p)
}

// isHookTrigger matches /api/hooks/{hook_id}/trigger and nothing longer or shorter.
func isHookTrigger(p string) bool {
	id, ok := strings.CutPrefix(p, "/api/hooks/")
	id, ok2 := strings.CutSuffix(id, "/trigger")
	return ok && ok2 && id != "" && !strings.Contains(id, "/")
}

// pagePath: paths that answer a browser with HTML (or its assets), where
// Accept: text/html is a fair request rather than a 406.
func pagePath(p string) bool {
	return p == "/" || p == docsPath || strings.HasPrefix(p, docsPath+"/")
}

func (a *API) routeDocs(r *mux.Router) {
	// Swagger UI with its assets compiled into the binary (swgui's v5emb, not
	// its CDN build): the page works on a machine with no way out.
	ui := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "Steward API",
		SwaggerJSON: contractJSONPath,
		BasePath:    docsPath + "/",
		SettingsUI: map[string]string{
			"defaultModelsExpandDepth": "1",    // show the schemas: they are most of what a client needs
			"persistAuthorization":     "true", // keep the pasted token across reloads
		},
	})
	r.Handle(docsPath, ui).Methods(http.MethodGet)
	r.HandleFunc(docsPath+"/{file}", a.handle(a.docsAsset(ui))).Methods(http.MethodGet)
	r.HandleFunc(contractJSONPath, a.handle(a.openapiJSON)).Methods(http.MethodGet)
	r.HandleFunc("/", a.handle(a.root)).Methods(http.MethodGet)
}

// docsAsset serves one of Swagger UI's embedded files; a name it does not
// have is a JSON:API 404 like any other unknown route.
func (a *API) docsAsset(ui http.Handler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := mux.Vars(r)["file"]
		if !docsAssetExists(name) {
			return &steward.Error{Kind: steward.KindNotFound, Code: "route_not_found",
				Detail: "no documentation file " + steward.Echo(name)}
		}
		ui.ServeHTTP(w, r)
		return nil
	}
}

// docsAssetExists: the embedded files are kept gzipped (name.gz) except images.
func docsAssetExists(name string) bool {
	for _, n := range []string{name, name + ".gz"} {
		if st, err := fs.Stat(static.FS, n); err == nil && !st.IsDir() {
			return true
		}
	}
	return false
}

// contractJSON converts the YAML contract once, keeping its key order so the
// JSON reads like the YAML.
type contractJSON struct {
	once sync.Once
	body []byte
	err  error
}

func (c *contractJSON) get(src []byte) ([]byte, error) {
	c.once.Do(func() { c.body, c.err = yaml.YAMLToJSON(src) })
	return c.body, c.err
}

func (a *API) openapiJSON(w http.ResponseWriter, r *http.Request) error {
	body, err := a.contractJSON.get(a.OpenAPI)
	if err != nil {
		return &steward.Error{Kind: steward.KindInternal, Code: "internal", Err: err}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	return nil
}

// rootDocument is the answer at / for a JSON client: where everything is.
type rootDocument struct {
	Meta    map[string]string `json:"meta"`
	Links   map[string]string `json:"links"`
	JSONAPI map[string]string `json:"jsonapi"`
}

// root sends a browser to the interactive reference and tells any other
// client, as a JSON:API document, where the API, its docs and its contract are.
func (a *API) root(w http.ResponseWriter, r *http.Request) error {
	if wantsHTML(r) {
		http.Redirect(w, r, docsPath, http.StatusSeeOther)
		return nil
	}
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	body, err := json.Marshal(rootDocument{
		Meta: map[string]string{"name": "Steward", "api": "/api", "api_version": APIVersion},
		Links: map[string]string{
			"self":          "/",
			"info":          "/api/info",
			"docs":          docsPath,
			"contract":      contractYAMLPath,
			"contract_json": contractJSONPath,
		},
		JSONAPI: map[string]string{"version": "1.1"},
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", jsonapi.MediaType)
	_, _ = w.Write(body)
	return nil
}

// wantsHTML: browsers name text/html in Accept; API clients do not.
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(strings.Join(r.Header.Values("Accept"), ","), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "text/html" || mt == "application/xhtml+xml") && params["q"] != "0" {
			return true
		}
	}
	return false
}
