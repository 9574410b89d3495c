package authz

import (
	"fmt"
	"strings"
)

// TopLevel are the paths beside the node tree a rule may name.
var TopLevel = []string{"/events", "/authorisation_policies", "/workflows", "/admin"}

// nodeSubPaths are what a rule may name below a node; the two with a
// name after them take one.
var nodeSubPaths = map[string]bool{"actions": true, "workflows": true, "git_remotes": false, "properties": false,
	"settings": false, "scheduled_activities": false, "templates": false, "log_lines": false}

// ValidatePath checks that a rule's path is "/", a top-level path (or below
// one), a node path (/projects/p, .../environments/e, .../assets/a), or one
// of a node's sub-paths (/actions/<action>, /workflows/<code>, /git_remotes,
// /properties, /settings, /scheduled_activities, /templates, /log_lines).
// validCode checks each code and name.
func ValidatePath(path string, validCode func(string) bool) error {
	if path == "/" {
		return nil
	}
	for _, top := range TopLevel {
		if path == top || strings.HasPrefix(path, top+"/") && validSegments(path[len(top)+1:], validCode) {
			return nil
		}
	}
	bad := func(why string) error {
		return fmt.Errorf("%q is not a path rules can name: %s", path, why)
	}
	if !strings.HasPrefix(path, "/projects/") {
		return bad("it must be /, a top-level path (" + strings.Join(TopLevel, ", ") + ") or start with /projects/<code>")
	}
	seg := strings.Split(path[1:], "/")
	i := 0
	for _, kind := range []string{"projects", "environments", "assets"} {
		if i >= len(seg) || seg[i] != kind {
			if kind == "projects" {
				return bad("it must start with /projects/<code>")
			}
			continue
		}
		if i+1 >= len(seg) || !validCode(seg[i+1]) {
			return bad(kind + " must be followed by a valid code")
		}
		i += 2
	}
	if i == len(seg) {
		return nil
	}
	named, ok := nodeSubPaths[seg[i]]
	switch {
	case !ok:
		return bad(fmt.Sprintf("a node has no %q below it", seg[i]))
	case named && (len(seg) != i+2 || !validCode(seg[i+1])):
		return bad(seg[i] + " must be followed by one name")
	case !named && len(seg) != i+1:
		return bad(seg[i] + " takes nothing after it")
	}
	return nil
}

func validSegments(rest string, validCode func(string) bool) bool {
	for _, s := range strings.Split(rest, "/") {
		if !validCode(s) {
			return false
		}
	}
	return true
}
