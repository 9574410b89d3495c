package handler

import "github.com/stewardhq/steward/pkg/secret"

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
