package model

import (
	"errors"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/secret"
)

// Credentials are a git remote's or template's user, password and SSH key,
// each sealed with the Store's secret box and bound to the owning row's id.
// NULL columns mean "not set".
type Credentials struct {
	UserSecret     *string `gorm:"column:user_secret"`
	PasswordSecret *string `gorm:"column:password_secret"`
	SSHKeySecret   *string `gorm:"column:ssh_key_secret"`
}

// HasAny reports whether any credential is set.
func (c Credentials) HasAny() bool {
	return c.UserSecret != nil || c.PasswordSecret != nil || c.SSHKeySecret != nil
}

// CredentialsInput is what a client sent: nil leaves a value as it is, a
// pointer to "" (or JSON null, mapped by the handler) clears it.
type CredentialsInput struct {
	User     *string
	Password *string
	SSHKey   *string
}

// Any reports whether the input touches any credential.
func (in CredentialsInput) Any() bool {
	return in.User != nil || in.Password != nil || in.SSHKey != nil
}

// validate checks sizes and that an SSH key parses; errors point at the attribute.
func (in CredentialsInput) validate() error {
	if in.User != nil && len(*in.User) > 200 {
		return steward.Invalid("user", "too_long", "user must be at most 200 characters")
	}
	if in.Password != nil && len(*in.Password) > 4096 {
		return steward.Invalid("password", "too_long", "password must be at most 4096 characters")
	}
	if in.SSHKey != nil && *in.SSHKey != "" {
		if err := gitops.ValidateSSHKey([]byte(*in.SSHKey)); err != nil {
			return steward.Invalid("ssh_key_data", "invalid_ssh_key", "%s", err.Error())
		}
	}
	return nil
}

// sealCredentials applies in to c for row rowID.
func (s *Store) sealCredentials(rowID string, c *Credentials, in CredentialsInput) error {
	if err := in.validate(); err != nil {
		return err
	}
	if s.Secrets == nil {
		return errors.New("no secret key configured")
	}
	seal := func(dst **string, v *string) error {
		if v == nil {
			return nil
		}
		if *v == "" {
			*dst = nil
			return nil
		}
		sealed, err := s.Secrets.Seal(*v, rowID)
		if err != nil {
			return err
		}
		*dst = &sealed
		return nil
	}
	return steward.First(seal(&c.UserSecret, in.User), seal(&c.PasswordSecret, in.Password), seal(&c.SSHKeySecret, in.SSHKey))
}

// openCredentials decrypts c for use with gitops; never render the result.
func (s *Store) openCredentials(rowID string, c Credentials) (gitops.Credentials, error) {
	var out gitops.Credentials
	open := func(v *string) (string, error) {
		if v == nil {
			return "", nil
		}
		if s.Secrets == nil {
			return "", errors.New("no secret key configured")
		}
		return s.Secrets.Open(*v, rowID)
	}
	var key string
	var err error
	if out.User, err = open(c.UserSecret); err != nil {
		return out, credentialsError(err)
	}
	if out.Password, err = open(c.PasswordSecret); err != nil {
		return out, credentialsError(err)
	}
	if key, err = open(c.SSHKeySecret); err != nil {
		return out, credentialsError(err)
	}
	if key != "" {
		out.SSHKey = []byte(key)
	}
	return out, nil
}

func credentialsError(err error) error {
	if errors.Is(err, secret.ErrUndecryptable) {
		return &steward.Error{Kind: steward.KindInvalid, Code: "credentials_unreadable",
			Detail: "stored credentials cannot be decrypted with the configured STEWARD_SECRET_KEY; set them again", Err: err}
	}
	return err
}

// GitError turns a gitops failure into a domain error (422 naming the remote
// and rev, never credentials); other errors pass through.
func GitError(err error, pointer string) error {
	var ge *gitops.Error
	if !errors.As(err, &ge) {
		return err
	}
	code := "git_" + string(ge.Kind)
	return &steward.Error{Kind: steward.KindInvalid, Code: code, Field: pointer, Detail: ge.Error(), Err: err}
}

// columns are c as column updates; the zero Credentials clears them all.
func (c Credentials) columns() map[string]any {
	return map[string]any{"user_secret": c.UserSecret, "password_secret": c.PasswordSecret, "ssh_key_secret": c.SSHKeySecret}
}

// credentialUpdates seals in over cur (row rowID's credentials, shared by git
// remotes and templates) and returns the column updates and the event
// attributes, which name the credentials that changed, never their values.
func (s *Store) credentialUpdates(rowID string, cur Credentials, in CredentialsInput) (map[string]any, JSONMap, error) {
	if !in.Any() {
		return nil, nil, &steward.Error{Kind: steward.KindInvalid, Code: "empty_update", Pointer: "/data/attributes", Detail: "send user, password or ssh_key_data (null or \"\" clears one)"}
	}
	if err := s.sealCredentials(rowID, &cur, in); err != nil {
		return nil, nil, err
	}
	// An object (name -> whether the request set it), not a list: the
	// reference's event attribute values are booleans, numbers, objects or strings.
	changed := map[string]any{"user": in.User != nil, "password": in.Password != nil, "ssh_key_data": in.SSHKey != nil}
	return cur.columns(), JSONMap{"credentials": changed}, nil
}
