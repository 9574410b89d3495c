package authz

import (
	"fmt"
	"strings"
)

// Verb is what a caller wants to do.
type Verb string

// The four verbs. Execute covers creating changes and runs, approving,
// continuing, rejecting, cancelling and retrying.
const (
	Read    Verb = "read"
	Update  Verb = "update"
	Execute Verb = "execute"
	Delete  Verb = "delete"
)

// Verbs lists them in the order rules state them.
var Verbs = []Verb{Read, Update, Execute, Delete}

// Rule grants or denies each verb at Path and below it. Update, execute and
// delete imply read: a rule that grants any of them grants read too.
type Rule struct {
	ID, Name   string
	Path       string
	Readable   bool
	Updatable  bool
	Executable bool
	Deletable  bool
}

// Allows reports whether the rule grants verb.
func (r *Rule) Allows(v Verb) bool {
	switch v {
	case Read:
		return r.Readable || r.Updatable || r.Executable || r.Deletable
	case Update:
		return r.Updatable
	case Execute:
		return r.Executable
	case Delete:
		return r.Deletable
	}
	return false
}

// ExplicitOnly are the top-level paths a rule at "/" does not reach: only a
// rule naming them (or a path below them) grants anything there.
var ExplicitOnly = []string{"/authorisation_policies"}

// Decision is the outcome, with the rule that decided (nil when no rule
// applies, which denies).
type Decision struct {
	Allowed bool
	Rule    *Rule
}

// Reason says why, for a 403's detail.
func (d Decision) Reason(v Verb, path string) string {
	switch {
	case d.Rule == nil:
		return fmt.Sprintf("no rule lets you %s %s", v, path)
	case d.Allowed:
		return fmt.Sprintf("rule %s (%s) lets you %s %s", d.Rule.label(), d.Rule.Path, v, path)
	}
	return fmt.Sprintf("rule %s at %s does not let you %s %s", d.Rule.label(), d.Rule.Path, v, path)
}

func (r *Rule) label() string {
	if r.Name != "" {
		return fmt.Sprintf("%q", r.Name)
	}
	return r.ID
}

// Decide applies rules to verb at path: the closest rules (the deepest
// whose path covers path) decide; among rules at that depth a denial wins;
// with no rule covering path, the answer is no.
func Decide(rules []Rule, v Verb, path string) Decision {
	best := -1
	var decided Decision
	for i := range rules {
		r := &rules[i]
		if !Covers(r.Path, path) {
			continue
		}
		depth := Depth(r.Path)
		switch {
		case depth > best:
			best, decided = depth, Decision{Allowed: r.Allows(v), Rule: r}
		case depth == best && decided.Allowed && !r.Allows(v):
			decided = Decision{Allowed: false, Rule: r}
		}
	}
	return decided
}

// Covers reports whether a rule at rulePath applies to path: path is
// rulePath or below it, segment by segment ("/projects/a" does not cover
// "/projects/ab"); "/" covers everything but ExplicitOnly paths.
func Covers(rulePath, path string) bool {
	if rulePath == "/" {
		for _, p := range ExplicitOnly {
			if Covers(p, path) {
				return false
			}
		}
		return true
	}
	// No concatenation: Decide runs this for every rule on every check.
	return strings.HasPrefix(path, rulePath) && (len(path) == len(rulePath) || path[len(rulePath)] == '/')
}

// Depth is how many segments a path has ("/" has none).
func Depth(path string) int {
	if path == "/" {
		return 0
	}
	return strings.Count(path, "/")
}

// Clause is one readable subtree: everything under Allow except what is
// under any of Unless.
type Clause struct {
	Allow  string
	Unless []string
}

// ReadFilter is the set of paths rules let a caller read, as clauses to OR
// together: a path is readable when some clause's Allow covers it and none
// of its Unless does. Unless holds every denying rule at least as deep as
// Allow (a tie denies), which is exactly Decide's answer: the closest rule
// over a path is a grant if and only if some grant has no denial at its depth
// or deeper over the path. An empty filter reads nothing.
func ReadFilter(rules []Rule) []Clause {
	var out []Clause
	for i := range rules {
		a := &rules[i]
		if !a.Allows(Read) {
			continue
		}
		c := Clause{Allow: a.Path}
		for j := range rules {
			d := &rules[j]
			if !d.Allows(Read) && Depth(d.Path) >= Depth(a.Path) && (Covers(a.Path, d.Path) || Covers(d.Path, a.Path)) {
				c.Unless = append(c.Unless, d.Path)
			}
		}
		out = append(out, c)
	}
	return out
}
