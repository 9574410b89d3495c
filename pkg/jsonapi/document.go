package jsonapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// MediaType is the JSON:API media type every document is served as.
const MediaType = "application/vnd.api+json"

// Timestamp formats t as Steward renders every time: UTC, RFC 3339, microseconds.
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// TimestampPtr is Timestamp for optional times; nil stays nil (rendered null).
func TimestampPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := Timestamp(*t)
	return &s
}

// Identifier is a resource identifier object.
type Identifier struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Resource is one resource object. Attributes is usually a struct with json
// tags (the fast path); Relationships and Links render with sorted keys.
type Resource struct {
	Type          string                   `json:"type"`
	ID            string                   `json:"id"`
	Attributes    any                      `json:"attributes,omitempty"`
	Relationships map[string]*Relationship `json:"relationships,omitempty"`
	Links         map[string]string        `json:"links,omitempty"`
	Meta          any                      `json:"meta,omitempty"`
}

// Identifier returns r's type and id.
func (r *Resource) Identifier() Identifier { return Identifier{Type: r.Type, ID: r.ID} }

// Relationship is a relationship object; build it with ToOne, ToMany, ToNull or
// LinksOnly. Data holds an Identifier, a []Identifier, a nil *Identifier
// (rendered null) or nothing at all (omitted), so encoding/json renders it
// natively: a MarshalJSON method here cost a re-scan of every relationship.
type Relationship struct {
	Data  any               `json:"data,omitempty"`
	Links map[string]string `json:"links,omitempty"`
}

// ToOne is a to-one relationship with data and, when related is set, a related link.
func ToOne(typ, id, related string) *Relationship {
	return &Relationship{Data: Identifier{Type: typ, ID: id}, Links: relatedLink(related)}
}

// ToNull is an empty to-one relationship ("data": null).
func ToNull(related string) *Relationship {
	return &Relationship{Data: (*Identifier)(nil), Links: relatedLink(related)}
}

// ToMany is a to-many relationship; nil ids render as [].
func ToMany(ids []Identifier) *Relationship {
	if ids == nil {
		ids = []Identifier{}
	}
	return &Relationship{Data: ids}
}

// LinksOnly is a relationship that carries only a related link.
func LinksOnly(related string) *Relationship {
	return &Relationship{Links: relatedLink(related)}
}

func relatedLink(related string) map[string]string {
	if related == "" {
		return nil
	}
	return map[string]string{"related": related}
}

// Identifiers returns the identifiers in the relationship's data.
func (r *Relationship) Identifiers() []Identifier {
	switch d := r.Data.(type) {
	case Identifier:
		return []Identifier{d}
	case []Identifier:
		return d
	}
	return nil
}

// Document is a top-level document. Data is a *Resource, a []*Resource or nil
// (rendered as null). Included nil means "omit"; Meta and Links are optional.
type Document struct {
	Data     any
	Included []*Resource
	Meta     map[string]any
	Links    map[string]string
	// NullLinks says some resource links are NullLink, to be rendered null.
	// Only documents that say so pay for the pass that does it.
	NullLinks bool
}

// NullLink is the value of a resource link that exists but leads nowhere yet
// (the reference requires a workflow's latest_published_version link, null
// until a version is published); a document with NullLinks set renders it
// null. No client string can be it: request bodies refuse NUL characters.
const NullLink = "\x00null"

// nullLinkJSON is NullLink as encoding/json writes it.
var nullLinkJSON = []byte(`"\u0000null"`)

// Encode turns doc into bytes after applying the request's sparse fieldsets and
// include rules: included is present (possibly []) when include was requested,
// holds no resource that is also primary data, has no duplicates and is sorted
// by type then id so the same request always renders the same bytes.
func Encode(doc Document, q *Query) ([]byte, error) {
	included := doc.Included
	if q != nil && q.IncludeRequested() && included == nil {
		included = []*Resource{}
	}
	if included != nil {
		included = normaliseIncluded(doc.Data, included)
	}
	if q != nil && len(q.Fields) > 0 {
		var err error
		if doc.Data, err = sparseData(doc.Data, q.Fields); err != nil {
			return nil, err
		}
		for i, r := range included {
			if included[i], err = sparse(r, q.Fields); err != nil {
				return nil, err
			}
		}
	}
	out, err := appendDocument(make([]byte, 0, 2048), doc, included, included != nil)
	if err == nil && doc.NullLinks {
		out = bytes.ReplaceAll(out, nullLinkJSON, []byte("null"))
	}
	return out, err
}

// Render writes doc with the given status as application/vnd.api+json.
func Render(w http.ResponseWriter, status int, doc Document, q *Query) {
	body, err := Encode(doc, q)
	if err != nil {
		RenderError(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", MediaType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func normaliseIncluded(data any, included []*Resource) []*Resource {
	seen := make(map[Identifier]bool, len(included))
	switch d := data.(type) {
	case *Resource:
		if d != nil {
			seen[d.Identifier()] = true
		}
	case []*Resource:
		for _, r := range d {
			seen[r.Identifier()] = true
		}
	}
	out := make([]*Resource, 0, len(included))
	for _, r := range included {
		id := r.Identifier()
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func sparseData(data any, fields map[string][]string) (any, error) {
	switch d := data.(type) {
	case *Resource:
		if d == nil {
			return d, nil
		}
		return sparse(d, fields)
	case []*Resource:
		out := make([]*Resource, len(d))
		for i, r := range d {
			var err error
			if out[i], err = sparse(r, fields); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return data, nil
}

// sparse keeps only the requested fields (attributes and relationships) of r.
// It is the slow path: attributes are re-read as a map only when asked.
func sparse(r *Resource, fields map[string][]string) (*Resource, error) {
	want, ok := fields[r.Type]
	if !ok {
		return r, nil
	}
	keep := make(map[string]bool, len(want))
	for _, f := range want {
		keep[f] = true
	}
	out := *r
	if r.Attributes != nil {
		raw, err := json.Marshal(r.Attributes)
		if err != nil {
			return nil, err
		}
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(raw, &attrs); err != nil {
			return nil, err
		}
		for k := range attrs {
			if !keep[k] {
				delete(attrs, k)
			}
		}
		out.Attributes = attrs
	}
	if r.Relationships != nil {
		rels := make(map[string]*Relationship)
		for k, v := range r.Relationships {
			if keep[k] {
				rels[k] = v
			}
		}
		out.Relationships = rels
		if len(rels) == 0 {
			out.Relationships = nil
		}
	}
	return &out, nil
}
