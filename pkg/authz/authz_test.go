package authz_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/stewardhq/steward/pkg/authz"
)

func grant(path string, verbs ...authz.Verb) authz.Rule {
	r := authz.Rule{ID: path + fmt.Sprint(verbs), Path: path}
	for _, v := range verbs {
		switch v {
		case authz.Read:
			r.Readable = true
		case authz.Update:
			r.Updatable = true
		case authz.Execute:
			r.Executable = true
		case authz.Delete:
			r.Deletable = true
		}
	}
	return r
}

func TestDecide(t *testing.T) {
	p := "/projects/p"
	env := p + "/environments/prod"
	for _, tc := range []struct {
		name  string
		rules []authz.Rule
		verb  authz.Verb
		path  string
		allow bool
		by    string // the deciding rule's path, "" for none
	}{
		{"no rules deny", nil, authz.Read, p, false, ""},
		{"a grant covers below it", []authz.Rule{grant(p, authz.Read)}, authz.Read, env + "/assets/a", true, p},
		{"segments, not prefixes", []authz.Rule{grant(p, authz.Read)}, authz.Read, "/projects/pp", false, ""},
		{"read is not update", []authz.Rule{grant(p, authz.Read)}, authz.Update, env, false, p},
		{"update implies read", []authz.Rule{grant(p, authz.Update)}, authz.Read, env, true, p},
		{"execute implies read", []authz.Rule{grant(p, authz.Execute)}, authz.Read, p + "/actions/deploy", true, p},
		{"delete implies read", []authz.Rule{grant(p, authz.Delete)}, authz.Read, p, true, p},
		{"the closest rule wins over a grant above", []authz.Rule{grant(p, authz.Update), grant(env)}, authz.Update, env + "/assets/a", false, env},
		{"the closest rule wins over a denial above", []authz.Rule{grant(p), grant(env, authz.Execute)}, authz.Execute, env, true, env},
		{"a denial wins a tie", []authz.Rule{grant(env, authz.Read), grant(env)}, authz.Read, env, false, env},
		{"a tie of grants grants", []authz.Rule{grant(env, authz.Read), grant(env, authz.Read, authz.Update)}, authz.Read, env, true, env},
		{"the root covers nodes", []authz.Rule{grant("/", authz.Read)}, authz.Read, env, true, "/"},
		{"the root covers top-level paths", []authz.Rule{grant("/", authz.Read)}, authz.Read, "/events", true, "/"},
		{"the root does not cover policies", []authz.Rule{grant("/", authz.Read, authz.Update)}, authz.Update, "/authorisation_policies", false, ""},
		{"policies only when named", []authz.Rule{grant("/authorisation_policies", authz.Update)}, authz.Update, "/authorisation_policies/x", true, "/authorisation_policies"},
		{"a sibling rule does not apply", []authz.Rule{grant(p+"/environments/dev", authz.Read)}, authz.Read, env, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := authz.Decide(tc.rules, tc.verb, tc.path)
			by := ""
			if d.Rule != nil {
				by = d.Rule.Path
			}
			if d.Allowed != tc.allow || by != tc.by {
				t.Errorf("Decide = %v by %q, want %v by %q (%s)", d.Allowed, by, tc.allow, tc.by, d.Reason(tc.verb, tc.path))
			}
		})
	}
}

// TestReadFilterAgreesWithDecide: for random rules and paths, a path is in
// the read filter exactly when Decide lets it be read, so a list filtered
// in SQL shows what a show would.
func TestReadFilterAgreesWithDecide(t *testing.T) {
	paths := []string{"/", "/projects/a", "/projects/b", "/projects/a/environments/x", "/projects/a/environments/y",
		"/projects/a/environments/x/assets/s", "/projects/a/assets/s", "/events", "/authorisation_policies"}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		var rules []authz.Rule
		for n := rng.Intn(5); n > 0; n-- {
			r := authz.Rule{Path: paths[rng.Intn(len(paths))], Readable: rng.Intn(2) == 0, Updatable: rng.Intn(4) == 0}
			rules = append(rules, r)
		}
		filter := authz.ReadFilter(rules)
		for _, path := range paths[1:] {
			want := authz.Decide(rules, authz.Read, path).Allowed
			got := false
			for _, c := range filter {
				if !authz.Covers(c.Allow, path) {
					continue
				}
				excluded := false
				for _, u := range c.Unless {
					excluded = excluded || authz.Covers(u, path)
				}
				got = got || !excluded
			}
			if got != want {
				t.Fatalf("rules %+v, path %s: filter says %v, Decide says %v (filter %+v)", rules, path, got, want, filter)
			}
		}
	}
}

func TestValidatePath(t *testing.T) {
	code := func(s string) bool { return s != "" && !strings.ContainsAny(s, " ./%") }
	for path, ok := range map[string]bool{
		"/": true, "/events": true, "/authorisation_policies": true, "/workflows": true, "/admin": true,
		"/projects/p": true, "/projects/p/environments/e": true, "/projects/p/assets/a": true,
		"/projects/p/environments/e/assets/a": true, "/projects/p/actions/deploy": true,
		"/projects/p/environments/e/actions/deploy": true, "/projects/p/workflows/release": true,
		"/projects/p/git_remotes": true, "/projects/p/environments/e/properties": true, "/projects/p/log_lines": true,
		"": false, "projects/p": false, "/projects": false, "/projects/": false, "/projects/p/": false,
		"/projects/p/environments": false, "/projects/p/nodes/x": false, "/projects/p/actions": false,
		"/projects/p/settings/x": false, "/projects/../etc": false, "/changes": false, "/projects/p//environments/e": false,
	} {
		if err := authz.ValidatePath(path, code); (err == nil) != ok {
			t.Errorf("ValidatePath(%q) = %v, want ok=%v", path, err, ok)
		}
	}
}
