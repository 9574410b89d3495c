// Package steward holds what every layer shares and nothing of ours
// imports into: the API contract (OpenAPI), the one error type and its kinds,
// and the one id check. The service itself lives in cmd/steward.
package steward

import "github.com/google/uuid"

// ParseID is the one check of an id from a URL or a body: a UUID in its
// 36-character form, in either case, returned in lower case, which is how ids
// are stored and compared (PostgreSQL's uuid ignores case, SQLite's text does
// not, so every lookup must use this form). ok is false for anything else,
// and id is then s as it was (for the 404 to quote): looking that up would be
// a type error on PostgreSQL's uuid columns, so callers answer 404 without
// asking the database. Use: id, ok := ParseID(id); if !ok { 404 }.
func ParseID(s string) (id string, ok bool) {
	if len(s) != 36 {
		return s, false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return s, false
	}
	return u.String(), true
}

// IsID reports whether s is an id exactly as Steward writes it (lower-case
// UUID), so that a lookup with s gives one answer on both databases. Ids from
// clients go through ParseID, which also accepts upper case.
func IsID(s string) bool {
	id, ok := ParseID(s)
	return ok && id == s
}
