package model

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/authz"
)

// Who may do what. Every operation a request drives decides through the
// actor: writes take it as an argument; reads find it in the context
// (WithActor), so lists are filtered in SQL and lookups hide what the caller
// may not read. A context without an actor is Steward's own work (engine,
// scheduler, recovery), which may do everything; every request gets one.

type actorKey struct{}

// WithActor returns ctx carrying actor, whose rules decide the reads made
// with it.
func WithActor(ctx context.Context, actor *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf is the actor ctx carries; nil means Steward itself.
func ActorOf(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// Anonymous is the actor of a request that needs no token (the docs, a
// hook's signed trigger before it is verified): it holds no rules.
var Anonymous = &Actor{Username: "anonymous"}

// Decide is the actor's decision on verb at path. Steward itself may do
// everything.
func (a *Actor) Decide(v authz.Verb, path string) authz.Decision {
	if a.IsSystem() {
		return authz.Decision{Allowed: true}
	}
	return authz.Decide(a.Rules, v, path)
}

// Can reports whether the actor may do verb at path.
func (a *Actor) Can(v authz.Verb, path string) bool { return a.Decide(v, path).Allowed }

// Authorise returns nil when the actor may do verb at path. A refused read
// is "not found" (what and key name the record), so nobody learns what
// exists where they may not look; a refused write is a 403 naming the rule
// that refused.
func (a *Actor) Authorise(v authz.Verb, path, what, key string) error {
	d := a.Decide(v, path)
	if d.Allowed {
		return nil
	}
	if v == authz.Read || !a.Can(authz.Read, path) {
		return steward.NotFound(what, key)
	}
	e := steward.Errorf(steward.KindForbidden, "%s", d.Reason(v, path))
	e.Code = "forbidden"
	return e
}

// Readable is the rows of db whose node (nodeColumn holds its id) the
// context's actor may read, filtered in SQL. Steward itself, and callers
// whose rules let them read everything, get db unchanged.
func (s *Store) Readable(ctx context.Context, db *gorm.DB, nodeColumn string) *gorm.DB {
	nodes, all := s.ReadableNodes(ctx)
	if all {
		return db
	}
	return db.Where(nodeColumn+" IN (?)", nodes)
}

// readablePaths narrows a query on nodes by their own path column: what
// node lists use, without a subquery.
func (s *Store) readablePaths(ctx context.Context, db *gorm.DB, pathColumn string) *gorm.DB {
	cond, args, all := readableCondition(ActorOf(ctx), pathColumn)
	if all {
		return db
	}
	return db.Where(cond, args...)
}

// ReadableNodes is a subquery of the ids of the nodes the context's actor may
// read, or all=true when that is every node.
func (s *Store) ReadableNodes(ctx context.Context) (nodes *gorm.DB, all bool) {
	cond, args, all := readableCondition(ActorOf(ctx), "path")
	if all {
		return nil, true
	}
	return s.DB.Session(&gorm.Session{NewDB: true}).Model(&Node{}).Select("id").Where(cond, args...), false
}

// ReadableLogNodes is ReadableNodes for log lines: a rule at a node's
// /log_lines is closer than any rule over the node, so it decides that
// node's log (a tie denies); elsewhere the node's own readability does.
func (s *Store) ReadableLogNodes(ctx context.Context) (nodes *gorm.DB, all bool) {
	a := ActorOf(ctx)
	if a.IsSystem() {
		return nil, true
	}
	allow := map[string]bool{}
	for _, r := range a.Rules {
		if x, ok := strings.CutSuffix(r.Path, "/log_lines"); ok {
			prev, seen := allow[x]
			allow[x] = r.Allows(authz.Read) && (!seen || prev)
		}
	}
	cond, _, all := readableCondition(a, "path")
	if len(allow) == 0 {
		return s.ReadableNodes(ctx)
	}
	var named, granted []string
	for x, ok := range allow {
		named = append(named, sqlString(x))
		if ok {
			granted = append(granted, sqlString(x))
		}
	}
	if all {
		cond = "1 = 1"
	}
	where := "(path NOT IN (" + strings.Join(named, ", ") + ") AND (" + cond + "))"
	if len(granted) > 0 {
		where = "(path IN (" + strings.Join(granted, ", ") + ") OR " + where + ")"
	}
	return s.DB.Session(&gorm.Session{NewDB: true}).Model(&Node{}).Select("id").Where(where), false
}

// ReadableWorkflows narrows a query by the workflows (column holds a
// workflow id) whose own rule (/projects/p/workflows/<code>) denies the
// reader; a workflow without one follows its project, which the caller
// filters or has checked.
func (s *Store) ReadableWorkflows(ctx context.Context, db *gorm.DB, column string) *gorm.DB {
	a := ActorOf(ctx)
	if a.IsSystem() {
		return db
	}
	denied := a.workflowDenials()
	if len(denied) == 0 {
		return db
	}
	return db.Where(column+" NOT IN (?)", s.DB.Session(&gorm.Session{NewDB: true}).Table("workflows w").Select("w.id").
		Joins("JOIN nodes n ON n.id = w.project_id").Where(strings.Join(denied, " OR ")))
}

// workflowDenials are the SQL tests naming the workflows whose own rule
// denies the actor reading them.
func (a *Actor) workflowDenials() []string {
	var denied []string
	for _, r := range a.Rules {
		project, code, ok := strings.Cut(r.Path, "/workflows/")
		if ok && strings.HasPrefix(project, "/projects/") && !a.Can(authz.Read, r.Path) {
			denied = append(denied, "(n.path = "+sqlString(project)+" AND w.code = "+sqlString(code)+")")
		}
	}
	return denied
}

// HidesWorkflows reports whether some rule hides a workflow from the actor.
func (a *Actor) HidesWorkflows() bool { return !a.IsSystem() && len(a.workflowDenials()) > 0 }

// readableCondition is the SQL condition on pathColumn that holds for the
// node paths a may read (authz.ReadFilter's clauses ORed), or all=true. A
// subtree test is an equality on a prefix (substr), which needs no LIKE
// escaping and means the same on both databases whatever their collation.
func readableCondition(a *Actor, pathColumn string) (cond string, args []any, all bool) {
	if a.IsSystem() {
		return "", nil, true
	}
	var parts, plain []string
	for _, c := range authz.ReadFilter(a.Rules) {
		switch {
		case c.Allow == "/" && len(c.Unless) == 0:
			return "", nil, true
		case len(c.Unless) == 0:
			plain = append(plain, c.Allow) // grants with nothing carved out share one test
		case c.Allow == "/":
			parts = append(parts, "NOT "+underAny(pathColumn, c.Unless))
		default:
			parts = append(parts, "("+underAny(pathColumn, []string{c.Allow})+" AND NOT "+underAny(pathColumn, c.Unless)+")")
		}
	}
	if len(plain) > 0 {
		parts = append(parts, underAny(pathColumn, plain))
	}
	if len(parts) == 0 {
		return "1 = 0", nil, false
	}
	return strings.Join(parts, " OR "), nil, false
}

// underAny is the SQL test that column is one of paths or below one: an
// IN list of the paths, and one of their prefixes per distinct length, so
// fifty rules make a short statement. The paths are literals, not bound
// parameters: the SQLite driver's binding grows with the square of a
// statement's parameters. Rule paths are validated (codes and names only)
// and quoted all the same.
func underAny(column string, paths []string) string {
	for _, p := range paths {
		if p == "/" {
			return "(1 = 1)" // every node is below the root
		}
	}
	byLen := map[int][]string{}
	var lens []int
	exact := make([]string, len(paths))
	for i, p := range paths {
		exact[i] = sqlString(p)
		n := len(p) + 1
		if _, ok := byLen[n]; !ok {
			lens = append(lens, n)
		}
		byLen[n] = append(byLen[n], sqlString(p+"/"))
	}
	sort.Ints(lens)
	or := []string{column + " IN (" + strings.Join(exact, ", ") + ")"}
	for _, n := range lens {
		or = append(or, "substr("+column+", 1, "+strconv.Itoa(n)+") IN ("+strings.Join(byLen[n], ", ")+")")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// sqlString is s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// CanRead reports whether the context's actor may read path.
func CanRead(ctx context.Context, path string) bool { return ActorOf(ctx).Can(authz.Read, path) }

// AuthoriseRead returns "not found" (what, key) unless the context's actor
// may read path: the check every lookup by id makes once it knows where the
// record lives.
func AuthoriseRead(ctx context.Context, path, what, key string) error {
	return ActorOf(ctx).Authorise(authz.Read, path, what, key)
}

// Permissions are what the actor may do at a node and its sub-paths, as
// meta.authorisations shows them: for each sub-resource the verbs that
// apply to it, and "self" for the node itself.
func (a *Actor) Permissions(n *Node, subs map[string][]authz.Verb) map[string]map[string]bool {
	// Only the rules over the node or below it can decide here: one pass
	// picks them, so a page of nodes costs len(rules) per node, not per
	// sub-resource and verb.
	if !a.IsSystem() {
		near := make([]authz.Rule, 0, 4)
		for _, r := range a.Rules {
			if authz.Covers(r.Path, n.Path) || authz.Covers(n.Path, r.Path) {
				near = append(near, r)
			}
		}
		a = &Actor{Username: a.Username, Rules: near}
	}
	out := make(map[string]map[string]bool, len(subs))
	for sub, verbs := range subs {
		path := n.Path
		if sub != "self" {
			path += "/" + sub
		}
		m := make(map[string]bool, len(verbs))
		for _, v := range verbs {
			m[string(v)] = a.Can(v, path)
		}
		out[sub] = m
	}
	return out
}

// Require is a 403 unless the actor may do verb at path: for what is no
// secret (top-level paths such as /admin and /events, a new record under a
// parent the caller may read).
func (a *Actor) Require(v authz.Verb, path string) error {
	if d := a.Decide(v, path); !d.Allowed {
		e := steward.Errorf(steward.KindForbidden, "%s", d.Reason(v, path))
		e.Code = "forbidden"
		return e
	}
	return nil
}

// RequireRead is Require for reading.
func (a *Actor) RequireRead(path string) error { return a.Require(authz.Read, path) }
