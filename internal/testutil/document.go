package testutil

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var fieldsKey = regexp.MustCompile(`^fields\[([a-z_]+)\]$`)

// CheckDocument applies the JSON:API rules no schema can express to every
// JSON:API response: no type+id twice across data and included, included
// present when include was sent, sparse fieldsets honoured, and error objects
// whose string status matches the response.
func CheckDocument(t testing.TB, req *http.Request, resp *Response) {
	t.Helper()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.api+json") || len(resp.Body) == 0 {
		return
	}
	var doc struct {
		Data     json.RawMessage   `json:"data"`
		Included []json.RawMessage `json:"included"`
		Errors   []struct {
			Status any `json:"status"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body, &doc); err != nil {
		t.Errorf("document: %s %s -> %d is not JSON: %v", req.Method, req.URL.Path, resp.Status, err)
		return
	}
	where := req.Method + " " + req.URL.RequestURI()
	if doc.Errors != nil {
		checkErrors(t, where, resp.Status, doc.Errors)
		return
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(resp.Body, &raw)
	if _, ok := raw["data"]; !ok {
		return
	}
	query := req.URL.Query()
	if _, sent := query["include"]; sent {
		if _, ok := raw["included"]; !ok {
			t.Errorf("document: %s sent include but the response has no included member", where)
		}
	}
	resources := decodeResources(doc.Data)
	for _, r := range doc.Included {
		resources = append(resources, decodeResources(r)...)
	}
	seen := map[string]bool{}
	for _, r := range resources {
		key := r.Type + "/" + r.ID
		if seen[key] {
			t.Errorf("document: %s renders %s twice across data and included", where, key)
		}
		seen[key] = true
	}
	checkSparse(t, where, query, resources)
}

func checkErrors(t testing.TB, where string, status int, errs []struct {
	Status any `json:"status"`
}) {
	t.Helper()
	want := strconv.Itoa(status)
	found := false
	for _, e := range errs {
		s, ok := e.Status.(string)
		if !ok {
			t.Errorf("document: %s error status %v is not a string", where, e.Status)
		}
		found = found || s == want
	}
	if len(errs) == 0 || !found {
		t.Errorf("document: %s answered %d but no error object says %q", where, status, want)
	}
}

type resourceObject struct {
	Type          string                     `json:"type"`
	ID            string                     `json:"id"`
	Attributes    map[string]json.RawMessage `json:"attributes"`
	Relationships map[string]json.RawMessage `json:"relationships"`
}

func decodeResources(raw json.RawMessage) []resourceObject {
	var many []resourceObject
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	var one resourceObject
	if json.Unmarshal(raw, &one) == nil && one.Type != "" {
		return []resourceObject{one}
	}
	return nil
}

func checkSparse(t testing.TB, where string, query url.Values, resources []resourceObject) {
	t.Helper()
	for key, vals := range query {
		m := fieldsKey.FindStringSubmatch(key)
		if m == nil {
			continue
		}
		allowed := map[string]bool{}
		for _, f := range strings.Split(vals[len(vals)-1], ",") {
			allowed[strings.TrimSpace(f)] = true
		}
		for _, r := range resources {
			if r.Type != m[1] {
				continue
			}
			for name := range r.Attributes {
				if !allowed[name] {
					t.Errorf("document: %s asked %s but %s/%s has attribute %q", where, key, r.Type, r.ID, name)
				}
			}
			for name := range r.Relationships {
				if !allowed[name] {
					t.Errorf("document: %s asked %s but %s/%s has relationship %q", where, key, r.Type, r.ID, name)
				}
			}
		}
	}
}
