package model

import (
	"context"
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
	if a.IsSystem() || a.Delegated {
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
	return s.readable(ctx, db, nodeColumn)
}

func (s *Store) readable(ctx context.Context, db *gorm.DB, nodeColumn string) *gorm.DB {
	nodes, all := s.ReadableNodes(ctx)
	if all {
		return db
	}
	return db.Where(nodeColumn+" IN (?)", nodes)
}

// ReadableNodes is a subquery of the ids of the nodes the context's actor may
// read, or all=true when that is every node.
func (s *Store) ReadableNodes(ctx context.Context) (nodes *gorm.DB, all bool) {
	a := ActorOf(ctx)
	if a.IsSystem() || a.Delegated {
		return nil, true
	}
	clauses := authz.ReadFilter(a.Rules)
	var sql []string
	var args []any
	for _, c := range clauses {
		if c.Allow == "/" && len(c.Unless) == 0 {
			return nil, true
		}
		part, pargs := "", []any(nil)
		if c.Allow != "/" {
			part, pargs = "(path = ? OR path LIKE ? ESCAPE '\\')", []any{c.Allow, likePrefix(c.Allow)}
		}
		for _, u := range c.Unless {
			if part != "" {
				part += " AND "
			}
			part += "NOT (path = ? OR path LIKE ? ESCAPE '\\')"
			pargs = append(pargs, u, likePrefix(u))
		}
		sql = append(sql, "("+part+")")
		args = append(args, pargs...)
	}
	q := s.DB.Session(&gorm.Session{NewDB: true}).Model(&Node{}).Select("id")
	if len(sql) == 0 {
		return q.Where("1 = 0"), false
	}
	return q.Where(strings.Join(sql, " OR "), args...), false
}

// likePrefix is the LIKE pattern for everything below path ('_' and '%'
// are common in codes, so they are escaped).
func likePrefix(path string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(path) + "/%"
}

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
