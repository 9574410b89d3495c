package gitops

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Credentials authenticate to a remote: user/password (or token) over HTTPS,
// a private key over SSH. SSH always checks host keys against KnownHosts.
type Credentials struct {
	User       string
	Password   string
	SSHKey     []byte
	KnownHosts string // known_hosts lines for SSH remotes
}

// MaxSSHKeySize bounds ssh_key_data; real keys are a few KiB.
const MaxSSHKeySize = 64 << 10

// ValidateSSHKey checks that key is a parseable, unencrypted private key.
func ValidateSSHKey(key []byte) error {
	if len(key) > MaxSSHKeySize {
		return fmt.Errorf("ssh_key_data is larger than %d bytes", MaxSSHKeySize)
	}
	if _, err := ssh.ParsePrivateKey(key); err != nil {
		return errors.New("ssh_key_data is not a valid unencrypted private key in PEM/OpenSSH format")
	}
	return nil
}

func isSSH(raw string) bool {
	return strings.HasPrefix(raw, "ssh://") || (scpLike.MatchString(raw) && !strings.Contains(raw, "://"))
}

// method builds the go-git auth for remote url; nil means anonymous.
func (c Credentials) method(raw string) (transport.AuthMethod, error) {
	if isSSH(raw) {
		if len(c.SSHKey) == 0 {
			return nil, errors.New("an SSH remote needs ssh_key_data")
		}
		user := c.User
		if user == "" {
			user = "git"
			if u, err := url.Parse(raw); err == nil && u.User != nil {
				user = u.User.Username()
			} else if i := strings.IndexByte(raw, '@'); i > 0 && !strings.Contains(raw, "://") {
				user = raw[:i]
			}
		}
		keys, err := gitssh.NewPublicKeys(user, c.SSHKey, "")
		if err != nil {
			return nil, errors.New("ssh_key_data is not a usable private key")
		}
		cb, err := hostKeyCallback(c.KnownHosts)
		if err != nil {
			return nil, err
		}
		keys.HostKeyCallback = cb
		return keys, nil
	}
	if c.User == "" && c.Password == "" {
		return nil, nil
	}
	user := c.User
	if user == "" {
		// The URL's user (https://u@host/...) when it names one; else
		// token-only: most forges accept any user name with a token.
		user = "git"
		if u, err := url.Parse(raw); err == nil && u.User != nil && u.User.Username() != "" {
			user = u.User.Username()
		}
	}
	return &githttp.BasicAuth{Username: user, Password: c.Password}, nil
}

// hostKeyCallback checks host keys against known_hosts lines; with none, every
// host is refused rather than trusted.
func hostKeyCallback(lines string) (ssh.HostKeyCallback, error) {
	if strings.TrimSpace(lines) == "" {
		return nil, errors.New("SSH remotes need known_hosts entries for the server; host keys are never ignored")
	}
	f, err := os.CreateTemp("", "steward-known-hosts-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(lines); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("known_hosts cannot be parsed: %w", err)
	}
	return cb, nil
}

// scrub renders err without any credential the remote URL carries.
func scrub(err error, raw string) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		msg = strings.ReplaceAll(msg, raw, Redact(raw))
	}
	return msg
}
