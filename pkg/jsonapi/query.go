package jsonapi

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Spec declares what one endpoint accepts in its query string. Everything not
// declared is refused with 400 and source.parameter.
type Spec struct {
	Filters      map[string]listquery.Field // filterable and sortable attributes
	Includes     []string                   // allowed include paths
	DefaultLimit int                        // 0 means 100
	MaxLimit     int                        // 0 means 1000
	List         bool                       // accepts filter/sort/limit/page/download
	Extra        []string                   // other plain parameters the endpoint reads
	// Keyset is the column walked by page[after] (a time-ordered UUIDv7 id).
	Keyset string
	// IntKeyset says the keyset column is an integer identity (log lines)
	// rather than a UUID, so cursors carry numbers.
	IntKeyset bool
	// DownloadExtensions are the file types download= may name, without the
	// dot; nil means csv (lists). Log-line endpoints set log and txt.
	DownloadExtensions []string
}

// Query is a parsed, validated query string.
type Query struct {
	Include   []string
	include   bool
	Fields    map[string][]string
	Filters   []listquery.Condition
	Or        bool
	Sorts     []listquery.SortField
	Limit     int
	PageSize  int // > 0 when keyset paging was asked for
	PageAfter string
	Download  string
	Extra     url.Values
}

// IncludeRequested reports whether the client sent include (even empty).
func (q *Query) IncludeRequested() bool { return q != nil && q.include }

// Includes reports whether path (or a path below it) was requested.
func (q *Query) Includes(path string) bool {
	for _, p := range q.Include {
		if p == path || strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}

// Paged reports whether the client walks the list with keyset paging.
func (q *Query) Paged() bool { return q.PageSize > 0 }

// List is the query's list part, for the model to turn into SQL.
func (q *Query) List() listquery.List {
	l := listquery.List{Filters: q.Filters, Or: q.Or, Sorts: q.Sorts, Limit: q.Limit, Paged: q.Paged()}
	if l.Paged {
		l.Limit = q.PageSize
	}
	if q.PageAfter != "" {
		l.After, _ = decodeCursor(q.PageAfter) // checked when parsed
	}
	return l
}

var (
	fieldsParam = regexp.MustCompile(`^fields\[([a-z_]+)\]$`)
	filterParam = regexp.MustCompile(`^filter\[([a-z_?]+)\](\[\])?$`)
	downloadOK  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.([a-z]+)$`)
)

// ParseQuery validates r's query string against spec.
func ParseQuery(r *http.Request, spec *Spec) (*Query, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// r.URL.Query() would drop the bad pair silently, and with it a filter.
		return nil, badQueryString(r.URL.RawQuery)
	}
	q := &Query{Limit: spec.defaultLimit(), Extra: url.Values{}}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same first error every time
	for _, key := range keys {
		// filter[x] and filter[x][] are one filter spelled two ways; both at
		// once would be two conditions the client did not mean.
		if m := filterParam.FindStringSubmatch(key); m != nil && m[2] != "" {
			if _, both := values["filter["+m[1]+"]"]; both {
				return nil, steward.BadParameter(key, "send filter[%s] or filter[%s][], not both", m[1], m[1])
			}
		}
	}
	for _, key := range keys {
		vals := values[key]
		for _, v := range append([]string{key}, vals...) {
			// Databases refuse such text (PostgreSQL with an error), so it
			// is the client's mistake, not the server's.
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return nil, steward.BadParameter(strings.ToValidUTF8(strings.ReplaceAll(key, "\x00", ""), "?"),
					"query parameters must be UTF-8 text without NUL characters")
			}
		}
		last := vals[len(vals)-1]
		switch {
		case key == "include":
			if err := q.parseInclude(last, spec); err != nil {
				return nil, err
			}
		case fieldsParam.MatchString(key):
			if q.Fields == nil {
				q.Fields = map[string][]string{}
			}
			q.Fields[fieldsParam.FindStringSubmatch(key)[1]] = splitList(last)
		case spec.List && key == "sort":
			if err := q.parseSort(key, splitList(last), spec); err != nil {
				return nil, err
			}
		case spec.List && key == "limit":
			n, err := strconv.Atoi(last)
			if err != nil || n < 1 || n > spec.maxLimit() {
				return nil, steward.BadParameter(key, "limit must be a whole number from 1 to %d", spec.maxLimit())
			}
			q.Limit = n
		case spec.List && key == "page[size]":
			n, err := strconv.Atoi(last)
			if err != nil || n < 1 || n > spec.maxLimit() {
				return nil, steward.BadParameter(key, "page[size] must be a whole number from 1 to %d", spec.maxLimit())
			}
			q.PageSize = n
		case spec.List && key == "page[after]":
			if !isCursor(last, spec.IntKeyset) {
				return nil, steward.BadParameter(key, "page[after] must be the cursor from a links.next URL")
			}
			q.PageAfter = last
		case spec.List && key == "download":
			exts := spec.DownloadExtensions
			if exts == nil {
				exts = []string{"csv"}
			}
			m := downloadOK.FindStringSubmatch(last)
			if m == nil || !contains(exts, m[1]) {
				return nil, steward.BadParameter(key, "download must be a file name such as items.%s (letters, digits, '.', '_', '-'; ending .%s)",
					exts[0], strings.Join(exts, " or ."))
			}
			q.Download = last
		case spec.List && filterParam.MatchString(key):
			m := filterParam.FindStringSubmatch(key)
			if err := q.parseFilter(key, m[1], m[2] != "", vals, spec); err != nil {
				return nil, err
			}
		case contains(spec.Extra, key):
			q.Extra[key] = vals
		default:
			return nil, steward.BadParameter(key, "unknown query parameter %s", steward.Echo(key))
		}
	}
	if q.PageAfter != "" && q.PageSize == 0 {
		q.PageSize = q.Limit
	}
	if q.Paged() {
		if spec.Keyset == "" {
			return nil, steward.BadParameter("page[size]", "this list does not support page[size]/page[after]; use limit")
		}
		for _, s := range q.Sorts {
			if s.Column != spec.Keyset && s.Column != "created_at" {
				return nil, steward.BadParameter("page[size]", "keyset paging walks the list in creation order; it cannot be combined with another sort")
			}
		}
	}
	return q, nil
}

// badQueryString names the first pair of raw that cannot be decoded (a ';'
// separator or a broken %-escape).
func badQueryString(raw string) error {
	for _, pair := range strings.Split(raw, "&") {
		key, value, _ := strings.Cut(pair, "=")
		_, kerr := url.QueryUnescape(key)
		_, verr := url.QueryUnescape(value)
		if strings.Contains(pair, ";") || kerr != nil || verr != nil {
			if k, err := url.QueryUnescape(strings.SplitN(key, ";", 2)[0]); err == nil {
				key = k
			}
			return steward.BadParameter(key, "query parameter %s cannot be decoded: escape ';' as %%3B and '%%' as %%25", steward.Echo(key))
		}
	}
	return steward.BadParameter("", "the query string cannot be decoded")
}

func (s *Spec) defaultLimit() int {
	if s.DefaultLimit > 0 {
		return s.DefaultLimit
	}
	return 100
}

func (s *Spec) maxLimit() int {
	if s.MaxLimit > 0 {
		return s.MaxLimit
	}
	return 1000
}

func (q *Query) parseInclude(v string, spec *Spec) error {
	q.include = true
	for _, p := range splitList(v) {
		if !contains(spec.Includes, p) {
			allowed := "none"
			if len(spec.Includes) > 0 {
				allowed = strings.Join(spec.Includes, ", ")
			}
			return &steward.Error{Kind: steward.KindBadRequest, Code: "unsupported_include", Parameter: "include",
				Detail: "include path " + steward.Echo(p) + " is not supported here (supported: " + allowed + ")"}
		}
		q.Include = append(q.Include, p)
	}
	return nil
}

// parseSort reads JSON:API sort (-created_at,name) or Ransack sorts ("created_at desc").
func (q *Query) parseSort(param string, items []string, spec *Spec) error {
	for _, item := range items {
		item = strings.TrimSpace(item)
		desc := false
		name := item
		if param == "sort" {
			if strings.HasPrefix(item, "-") {
				desc, name = true, item[1:]
			}
		} else {
			parts := strings.Fields(item)
			if len(parts) == 0 || len(parts) > 2 {
				return steward.BadParameter(param, "sort %s must be \"<attribute> [asc|desc]\"", steward.Echo(item))
			}
			name = parts[0]
			if len(parts) == 2 {
				switch strings.ToLower(parts[1]) {
				case "asc":
				case "desc":
					desc = true
				default:
					return steward.BadParameter(param, "sort direction %s must be asc or desc", steward.Echo(parts[1]))
				}
			}
		}
		f, ok := spec.Filters[name]
		if !ok {
			return &steward.Error{Kind: steward.KindBadRequest, Code: "unsupported_sort", Parameter: param,
				Detail: "cannot sort by " + steward.Echo(name) + "; sortable attributes: " + strings.Join(spec.names(), ", ")}
		}
		q.Sorts = append(q.Sorts, listquery.SortField{Column: f.Column, Desc: desc, Nullable: f.Nullable})
	}
	return nil
}

func (s *Spec) names() []string {
	out := make([]string, 0, len(s.Filters))
	for k := range s.Filters {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
