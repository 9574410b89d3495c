package gitops

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// scpLike matches git's user@host:path form (no scheme). A path starting
// with a backslash is not SSH to go-git (it reads the whole string as a local
// path), so it does not match.
var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/\\].*$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:/.+$`)

// ValidateURL accepts https, http, ssh and git@host:path remotes and refuses
// everything else: ext:: and other transports run arbitrary commands. file://
// URLs and absolute local paths read the server's own disk (its mirrors and
// secrets included), so they are accepted only when m.AllowLocal is set; a
// nil m allows none. Every use of a mirror checks again, so a remote stored
// while local remotes were allowed is not fetched once they are not.
func (m *Mirrors) ValidateURL(raw string) error {
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
	allowLocal := m != nil && m.AllowLocal
	local := func(path string) error {
		if !allowLocal {
			return fmt.Errorf("url %q is on the server's own disk: file:// and local-path remotes are refused unless STEWARD_ALLOW_LOCAL_REMOTES is set", Redact(raw))
		}
		if m.private(path) {
			return fmt.Errorf("url %q is inside the server's data dir: Steward's own mirrors and files are never a remote", Redact(raw))
		}
		return nil
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
		return local(u.Path)
	case "":
		if !strings.HasPrefix(raw, "/") {
			return fmt.Errorf("url %q is neither a network URL (https, ssh, git@host:path) nor an absolute path", Redact(raw))
		}
		return local(raw)
	default:
		return fmt.Errorf("url scheme %q is not supported (use https, ssh or git@host:path)", u.Scheme)
	}
	return nil
}

// private reports whether path lies in the mirrors' folder or one of the
// Private folders, links resolved as far as they exist.
func (m *Mirrors) private(path string) bool {
	resolve := func(p string) string {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	target := resolve(path)
	for _, dir := range append([]string{m.Dir}, m.Private...) {
		if dir == "" {
			continue
		}
		d := resolve(dir)
		if target == d || strings.HasPrefix(target, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
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
