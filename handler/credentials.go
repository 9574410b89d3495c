package handler

import (
	"net/http"
	"time"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
	"github.com/stewardhq/steward/pkg/secret"
)

// Git remotes and templates are both a Git URL with sealed credentials, and
// the reference gives them the same attributes and the same two PATCH bodies;
// what they share lives here so the two stay alike.

// remoteAttributes are the attributes git remotes and templates share.
type remoteAttributes struct {
	Name       string  `json:"name"`
	URL        string  `json:"url"`
	Archived   bool    `json:"archived"`
	Disabled   bool    `json:"disabled"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
	User       *string `json:"user"`
	Password   *string `json:"password"`
	SSHKeyData *string `json:"ssh_key_data"`
}

func newRemoteAttributes(name, url string, archived, disabled bool, createdAt, updatedAt time.Time, c model.Credentials) remoteAttributes {
	return remoteAttributes{Name: name, URL: url, Archived: archived, Disabled: disabled,
		CreatedAt: jsonapi.Timestamp(createdAt), UpdatedAt: jsonapi.Timestamp(updatedAt),
		User: hiddenCredential(c.UserSecret), Password: hiddenCredential(c.PasswordSecret),
		SSHKeyData: hiddenCredential(c.SSHKeySecret)}
}

// hiddenCredential renders one sealed credential column (git remote or
// template user/password/ssh_key_data): "{{hidden}}" when set, null when unset.
// It takes the sealed column so no caller ever needs the plaintext to render.
func hiddenCredential(sealed *string) *string {
	if sealed == nil {
		return nil
	}
	v := secret.Hidden
	return &v
}

var (
	credentialFields = []string{"user", "password", "ssh_key_data"}
	// One PATCH URL takes two bodies: archived alone, or credentials.
	remotePatchFields = append([]string{"archived"}, credentialFields...)
)

// decodeCredentials reads user/password/ssh_key_data; null and "" both clear.
func decodeCredentials(body *jsonapi.Body) (model.CredentialsInput, error) {
	var in model.CredentialsInput
	dst := map[string]**string{"user": &in.User, "password": &in.Password, "ssh_key_data": &in.SSHKey}
	for _, k := range credentialFields {
		if err := body.NullableString(k, dst[k]); err != nil {
			return in, err
		}
		if body.IsNull(k) {
			empty := ""
			*dst[k] = &empty
		}
	}
	return in, nil
}

// decodeRemotePatch reads the PATCH body of the typ resource id: {archived}
// to archive or unarchive (archived is then set), or {user, password,
// ssh_key_data} to change credentials. A body mixing the two is refused, so a
// client never archives by accident while rotating a key (or the reverse).
func decodeRemotePatch(r *http.Request, typ, id string) (archived *bool, creds model.CredentialsInput, err error) {
	body, err := jsonapi.DecodeBody(r, typ, remotePatchFields)
	if err != nil {
		return nil, creds, err
	}
	if err := body.CheckID(id); err != nil {
		return nil, creds, err
	}
	hasCreds := false
	for _, k := range credentialFields {
		hasCreds = hasCreds || body.Has(k)
	}
	if body.Has("archived") {
		if hasCreds {
			return nil, creds, steward.Invalid("archived", "mixed_update",
				"send either archived (to archive or unarchive) or user/password/ssh_key_data (to change credentials), not both")
		}
		var v bool
		if err := body.Bool("archived", &v); err != nil {
			return nil, creds, err
		}
		return &v, creds, nil
	}
	creds, err = decodeCredentials(body)
	return nil, creds, err
}
