// Package listquery is a list request as values: which rows (filters), in
// which order (sorts), how many and from where (limit, cursor). The JSON:API
// layer parses one from a query string, the model turns it into SQL; this
// package imports nothing, so neither needs the other.
package listquery

// FieldKind is the type of a filterable attribute; values are parsed to it so
// that SQL compares like with like on both databases.
type FieldKind uint8

const (
	String FieldKind = iota
	Bool
	Time
	Int
	// UUID is an id column (uuid on PostgreSQL): values must be UUIDs, so a
	// malformed id is a 400 rather than a database error.
	UUID
)

// Field maps an API attribute name to a SQL column. Nullable columns sort
// with NULL first when ascending on both databases (PostgreSQL would put it last).
type Field struct {
	Column   string
	Kind     FieldKind
	Nullable bool
}

// Condition is one parsed Ransack predicate, e.g. filter[code_in][]=a: its
// values are already of the field's kind.
type Condition struct {
	Field     Field
	Predicate string
	Values    []any
	Param     string // the query parameter it came from, for errors
}

// SortField is one sort key.
type SortField struct {
	Column   string
	Desc     bool
	Nullable bool
}

// List is what a list request asks for.
type List struct {
	Filters []Condition
	Or      bool // filters joined by OR (filter[m]=or), else AND
	Sorts   []SortField
	Limit   int  // rows on the page
	Paged   bool // keyset paging: the list walks its keyset column only
	// After is the keyset value of the last row of the previous page (a
	// string id, or an int64 for integer keysets); nil on the first page.
	After any
}
