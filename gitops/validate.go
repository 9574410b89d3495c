package gitops

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// scpLike matches git's user@host:path form (no scheme).
var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:/.+$`)

// ValidateURL accepts https, http, ssh, git@host:path and file remotes and
// refuses everything else: ext:: and other transports run arbitrary commands.
func ValidateURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("url must not be empty")
	}
	if len(raw) > 2000 || strings.ContainsAny(raw, " \t\r\n\x00") {
		return fmt.Errorf("url must be at most 2000 characters with no spaces or control characters")
	}
	if strings.Contains(raw, "::") {
		return fmt.Errorf("url %q uses a git remote helper transport, which is not allowed", Redact(raw))
	}
	if scpLike.MatchString(raw) && !strings.Contains(raw, "://") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q cannot be parsed", Redact(raw))
	}
	switch u.Scheme {
	case "https", "http", "ssh":
		if u.Host == "" {
			return fmt.Errorf("url %q has no host", Redact(raw))
		}
	case "file":
		if u.Path == "" {
			return fmt.Errorf("url %q has no path", raw)
		}
	default:
		return fmt.Errorf("url scheme %q is not supported (use https, ssh, git@host:path or file)", u.Scheme)
	}
	return nil
}

// ValidateRev refuses revs that could be read as options or ranges.
func ValidateRev(rev string) error {
	switch {
	case rev == "":
		return fmt.Errorf("git_rev must not be empty")
	case len(rev) > 255:
		return fmt.Errorf("git_rev must be at most 255 characters")
	case strings.HasPrefix(rev, "-"):
		return fmt.Errorf("git_rev %q must not start with '-'", rev)
	case strings.Contains(rev, ".."):
		return fmt.Errorf("git_rev %q must not contain '..'", rev)
	case strings.ContainsAny(rev, " ~^:?*[\\\t\r\n\x00\x7f") || strings.HasSuffix(rev, ".lock") || strings.HasSuffix(rev, "/") || strings.Contains(rev, "@{"):
		return fmt.Errorf("git_rev %q is not a valid branch, tag or commit", rev)
	}
	return nil
}

// Redact strips userinfo from a URL so it can be logged or shown.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}
