package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	gjsonapi "github.com/google/jsonapi"
)

// rawResource is what google/jsonapi drops from a resource object.
type rawResource struct {
	Links map[string]json.RawMessage `json:"links"`
	Meta  map[string]any             `json:"meta"`
}

// links keeps the links that are plain URLs (JSON:API also allows link
// objects; Steward sends none).
func (r rawResource) links() map[string]string {
	out := map[string]string{}
	for k, v := range r.Links {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		}
	}
	return out
}

// extras is implemented by resources that keep what google/jsonapi drops.
type extras interface {
	setExtras(r rawResource, resource json.RawMessage)
}

func (p *Project) setExtras(r rawResource, _ json.RawMessage) { p.Links, p.Meta = r.links(), r.Meta }
func (e *Environment) setExtras(r rawResource, _ json.RawMessage) {
	e.Links, e.Meta = r.links(), r.Meta
}
func (g *GitRemote) setExtras(r rawResource, _ json.RawMessage) { g.Links = r.links() }
func (c *Change) setExtras(r rawResource, _ json.RawMessage)    { c.Links, c.Meta = r.links(), r.Meta }
func (s *Step) setExtras(r rawResource, _ json.RawMessage)      { s.Links = r.links() }
func (l *LogLine) setExtras(_ rawResource, res json.RawMessage) { l.Resource = res }

// decodeOne reads a single-resource document into v, a pointer to one of the
// tagged resource structs, with google/jsonapi's UnmarshalPayload.
func decodeOne(body []byte, v any) error {
	if err := gjsonapi.UnmarshalPayload(bytes.NewReader(body), v); err != nil {
		return fmt.Errorf("read %T document: %w", v, err)
	}
	var doc struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("read %T document: %w", v, err)
	}
	var raw rawResource
	_ = json.Unmarshal(doc.Data, &raw)
	if x, ok := v.(extras); ok {
		x.setExtras(raw, doc.Data)
	}
	switch r := v.(type) {
	case *Change:
		r.Document = body
	case *Step:
		r.Document = body
	}
	return nil
}

// List is one page of a list.
type List[T any] struct {
	Items []*T
	// Partial is meta.partial_response: more rows matched than the limit let through.
	Partial bool
	// Next is links.next, the path and query of the next page when paging
	// with page[size]; "" on the last page.
	Next     string
	Meta     map[string]any
	Document json.RawMessage // the list document as the server sent it
}

// decodeMany reads a list document with google/jsonapi's
// UnmarshalManyPayload, in document order.
func decodeMany[T any](body []byte) (*List[T], error) {
	items, err := gjsonapi.UnmarshalManyPayload(bytes.NewReader(body), reflect.TypeOf(new(T)))
	if err != nil {
		return nil, fmt.Errorf("read list of %T: %w", *new(T), err)
	}
	var doc struct {
		Data  []json.RawMessage `json:"data"`
		Links map[string]any    `json:"links"`
		Meta  map[string]any    `json:"meta"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("read list of %T: %w", *new(T), err)
	}
	if len(doc.Data) != len(items) {
		return nil, fmt.Errorf("read list of %T: %d resources, google/jsonapi read %d", *new(T), len(doc.Data), len(items))
	}
	l := &List[T]{Items: make([]*T, len(items)), Meta: doc.Meta, Document: body}
	for i, it := range items {
		l.Items[i] = it.(*T)
		var raw rawResource
		_ = json.Unmarshal(doc.Data[i], &raw)
		if x, ok := it.(extras); ok {
			x.setExtras(raw, doc.Data[i])
		}
	}
	l.Partial, _ = doc.Meta["partial_response"].(bool)
	l.Next, _ = doc.Links["next"].(string)
	return l, nil
}

// decodeLogEvent reads one stream event's data, a log line resource object,
// by wrapping it in a document for UnmarshalPayload: the stream's lines are
// read by the same client as every other document.
func decodeLogEvent(data []byte) (*LogLine, error) {
	doc := make([]byte, 0, len(data)+10)
	doc = append(append(append(doc, `{"data":`...), data...), '}')
	var l LogLine
	if err := gjsonapi.UnmarshalPayload(bytes.NewReader(doc), &l); err != nil {
		return nil, fmt.Errorf("read log line event: %w", err)
	}
	l.Resource = append(json.RawMessage(nil), data...)
	return &l, nil
}
