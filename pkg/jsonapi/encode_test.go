package jsonapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// wireDocument and wireDocumentIncluded are the document as encoding/json
// writes it, which appendDocument writes by hand.
type wireDocument struct {
	Data     any               `json:"data"`
	Included []*Resource       `json:"included,omitempty"`
	Meta     map[string]any    `json:"meta,omitempty"`
	Links    map[string]string `json:"links,omitempty"`
}

type wireDocumentIncluded struct {
	Data     any               `json:"data"`
	Included []*Resource       `json:"included"`
	Meta     map[string]any    `json:"meta,omitempty"`
	Links    map[string]string `json:"links,omitempty"`
}

// encodingJSON is what encoding/json makes of the document.
func encodingJSON(t *testing.T, doc Document, included []*Resource, always bool) []byte {
	t.Helper()
	var out []byte
	var err error
	if always {
		out, err = json.Marshal(wireDocumentIncluded{Data: doc.Data, Included: included, Meta: doc.Meta, Links: doc.Links})
	} else {
		out, err = json.Marshal(wireDocument{Data: doc.Data, Included: included, Meta: doc.Meta, Links: doc.Links})
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type testMeta struct {
	Flag  bool                       `json:"flag"`
	Auths map[string]map[string]bool `json:"authorisations"`
}

func (m *testMeta) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"flag":`...)
	b = AppendBool(b, m.Flag)
	b = append(b, `,"authorisations":`...)
	return append(AppendBoolMaps(b, m.Auths), '}'), nil
}

// Strings that exercise every escaping rule, and random bytes.
var awkward = []string{"", "plain", `q"uote`, `back\slash`, "<a href='x'>&amp;</a>", "tab\tnl\nCR\rbs\bff\f",
	"\x00null", "\x01\x1f\x7f", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff\xfe utf8", "\xed\xa0\x80", "/api/projects/p"}

func randomString(r *rand.Rand) string {
	if r.IntN(3) > 0 {
		return awkward[r.IntN(len(awkward))]
	}
	b := make([]byte, r.IntN(12))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func randomMap(r *rand.Rand) map[string]string {
	if r.IntN(4) == 0 {
		return nil
	}
	m := map[string]string{}
	for i := r.IntN(8); i > 0; i-- {
		m[randomString(r)] = randomString(r)
	}
	return m
}

func randomResource(r *rand.Rand) *Resource {
	res := &Resource{Type: randomString(r), ID: randomString(r), Links: randomMap(r)}
	switch r.IntN(4) {
	case 1:
		res.Attributes = map[string]any{randomString(r): randomString(r), "n": r.IntN(100), "nil": nil}
	case 2:
		res.Attributes = &struct {
			Code string  `json:"code"`
			Desc *string `json:"description"`
		}{Code: randomString(r)}
	case 3:
		res.Attributes = map[string]json.RawMessage{"raw": json.RawMessage(`{"a": [1, 2]}`)}
	}
	if r.IntN(3) > 0 {
		res.Relationships = map[string]*Relationship{}
		for i := r.IntN(7); i > 0; i-- {
			var rel *Relationship
			switch r.IntN(7) {
			case 0:
				rel = ToOne(randomString(r), randomString(r), randomString(r))
			case 1:
				rel = ToNull(randomString(r))
			case 2:
				rel = ToMany(nil)
			case 3:
				rel = ToMany([]Identifier{{randomString(r), randomString(r)}, {randomString(r), randomString(r)}})
			case 4:
				rel = LinksOnly(randomString(r))
			case 5:
				rel = &Relationship{Data: []Identifier(nil), Links: map[string]string{}}
			}
			res.Relationships[randomString(r)] = rel
		}
	}
	switch r.IntN(4) {
	case 1:
		res.Meta = map[string]any{"k": randomString(r), "b": true}
	case 2:
		auths := map[string]map[string]bool{randomString(r): {"read": true, "update": r.IntN(2) == 0}, "nil": nil}
		res.Meta = &testMeta{Flag: r.IntN(2) == 0, Auths: auths}
	case 3:
		res.Meta = (*testMeta)(nil)
	}
	return res
}

// The hand-written encoder writes the bytes encoding/json writes.
func TestEncoderMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	for i := 0; i < 3000; i++ {
		doc := Document{Links: randomMap(r)}
		switch r.IntN(5) {
		case 0:
			doc.Data = randomResource(r)
		case 1:
			doc.Data = []*Resource{randomResource(r), randomResource(r)}
		case 2:
			doc.Data = []*Resource{}
		case 3:
			doc.Data = (*Resource)(nil)
		}
		if r.IntN(2) == 0 {
			doc.Meta = map[string]any{"count": r.IntN(10), randomString(r): randomString(r)}
		}
		var included []*Resource
		if r.IntN(2) == 0 {
			included = []*Resource{randomResource(r)}
		}
		always := included != nil && r.IntN(2) == 0
		got, err := appendDocument(nil, doc, included, always)
		if err != nil {
			t.Fatal(err)
		}
		want := encodingJSON(t, doc, included, always)
		if !bytes.Equal(got, want) {
			t.Fatalf("document %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
