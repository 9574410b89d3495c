package handler

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type userAttributes struct {
	Username     string   `json:"username"`
	Groupnames   []string `json:"groupnames"`
	AuthProvider string   `json:"auth_provider"`
	CreatedAt    string   `json:"created_at"`
	UpdatedAt    string   `json:"updated_at"`
}

func userResource(u *model.User) *jsonapi.Resource {
	return &jsonapi.Resource{Type: "user", ID: u.ID, Attributes: &userAttributes{
		Username: u.Username, Groupnames: u.GroupNames(), AuthProvider: u.AuthProvider,
		CreatedAt: jsonapi.Timestamp(u.CreatedAt), UpdatedAt: jsonapi.Timestamp(u.UpdatedAt),
	}}
}

type groupAttributes struct {
	CN             string   `json:"cn"`
	AlternativeCNs []string `json:"alternative_cns"`
}

func groupResource(g *model.Group) *jsonapi.Resource {
	alts := []string(g.AlternativeCNs)
	if alts == nil {
		alts = []string{}
	}
	return &jsonapi.Resource{Type: "group", ID: g.ID, Attributes: &groupAttributes{CN: g.CN, AlternativeCNs: alts}}
}

// tokenAttributes never carries the secret: Token is set only on the response
// to the POST that created it, and omitted everywhere else.
type tokenAttributes struct {
	Name        string  `json:"name"`
	Username    string  `json:"username"`
	TokenPrefix string  `json:"token_prefix"`
	CreatedAt   string  `json:"created_at"`
	LastUsedAt  *string `json:"last_used_at"`
	ExpiresAt   *string `json:"expires_at"`
	RevokedAt   *string `json:"revoked_at"`
	Token       string  `json:"token,omitempty"`
}

func tokenResource(t *model.APIToken) *jsonapi.Resource {
	username := ""
	if t.User != nil {
		username = t.User.Username
	}
	return &jsonapi.Resource{Type: "api_token", ID: t.ID,
		Attributes: &tokenAttributes{Name: t.Name, Username: username, TokenPrefix: t.Prefix,
			CreatedAt: jsonapi.Timestamp(t.CreatedAt), LastUsedAt: jsonapi.TimestampPtr(t.LastUsedAt),
			ExpiresAt: jsonapi.TimestampPtr(t.ExpiresAt), RevokedAt: jsonapi.TimestampPtr(t.RevokedAt)},
		Links: map[string]string{"self": "/api/tokens/" + t.ID},
	}
}

var (
	userListSpec  = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.UserFilters}
	groupListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.GroupFilters}
	tokenListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.TokenFilters}
	plainSpec     = &jsonapi.Spec{}
)

func (a *API) routeIdentity(r *mux.Router) {
	r.HandleFunc("/api/users", a.handle(a.listUsers)).Methods(http.MethodGet)
	r.HandleFunc("/api/users", a.handle(a.createUser)).Methods(http.MethodPost)
	r.HandleFunc("/api/groups", a.handle(a.listGroups)).Methods(http.MethodGet)
	r.HandleFunc("/api/groups", a.handle(a.createGroup)).Methods(http.MethodPost)
	r.HandleFunc("/api/tokens", a.handle(a.listTokens)).Methods(http.MethodGet)
	r.HandleFunc("/api/tokens", a.handle(a.createToken)).Methods(http.MethodPost)
	r.HandleFunc("/api/tokens/{token_id}", a.handle(a.revokeToken)).Methods(http.MethodDelete)
}

// listOf renders one page of a simple list (no include) for base, or streams
// it as CSV when the client asked for a download.
func listOf[T any](a *API, w http.ResponseWriter, r *http.Request, spec *jsonapi.Spec, src model.Source[T],
	csvColumns []string, render func(*T) *jsonapi.Resource) error {
	q, err := jsonapi.ParseQuery(r, spec)
	if err != nil {
		return err
	}
	l, written, err := listPage(a, w, r, q, src, csvColumns, render, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	return listOf(a, w, r, userListSpec, a.Store.UserList(), []string{"username", "groupnames", "auth_provider", "created_at", "updated_at"}, userResource)
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request) error {
	return listOf(a, w, r, groupListSpec, a.Store.GroupList(), []string{"cn", "alternative_cns"}, groupResource)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	return listOf(a, w, r, tokenListSpec, a.Store.TokenList(actorOf(r)),
		[]string{"name", "username", "token_prefix", "created_at", "last_used_at", "expires_at", "revoked_at"}, tokenResource)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "user", []string{"username", "groupnames"})
	if err != nil {
		return err
	}
	var username string
	var groups []string
	if err := steward.First(body.Require("username"), body.String("username", &username), body.Strings("groupnames", &groups)); err != nil {
		return err
	}
	u, err := a.Store.CreateUser(r.Context(), actorOf(r), username, groups)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: userResource(u)}, nil)
	return nil
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "group", []string{"cn", "alternative_cns"})
	if err != nil {
		return err
	}
	var cn string
	var alts []string
	if err := steward.First(body.Require("cn"), body.String("cn", &cn), body.Strings("alternative_cns", &alts)); err != nil {
		return err
	}
	g, err := a.Store.CreateGroup(r.Context(), actorOf(r), cn, alts)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: groupResource(g)}, nil)
	return nil
}

// createToken is the one response that shows a token's secret.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "api_token", []string{"name", "expires_at", "username"})
	if err != nil {
		return err
	}
	var name, username string
	var expiresRaw *string
	if err := steward.First(body.String("name", &name), body.String("username", &username),
		body.NullableString("expires_at", &expiresRaw)); err != nil {
		return err
	}
	var expires *time.Time
	if expiresRaw != nil {
		t, err := time.Parse(time.RFC3339Nano, *expiresRaw)
		if err != nil {
			return steward.Invalid("expires_at", "invalid_time",
				"expires_at must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		expires = &t
	}
	tok, secret, err := a.Store.CreateTokenUntil(r.Context(), actorOf(r), username, name, expires, "")
	if err != nil {
		return err
	}
	res := tokenResource(tok)
	res.Attributes.(*tokenAttributes).Token = secret
	w.Header().Set("Location", res.Links["self"])
	w.Header().Set("Cache-Control", "no-store")
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res}, nil)
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	if err := a.Store.RevokeToken(r.Context(), actorOf(r), mux.Vars(r)["token_id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
