package model_test

import (
	"encoding/json"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// TestJSONMapNumbersExact: a JSONMap keeps numbers exactly through the
// database and through encoding/json, and reads what both databases store.
func TestJSONMapNumbersExact(t *testing.T) {
	big := "123456789012345678901234567890"
	var m model.JSONMap
	if err := json.Unmarshal([]byte(`{"big":`+big+`,"port":8080,"e":1e3,"f":1.50,"n":{"x":[`+big+`]}}`), &m); err != nil {
		t.Fatal(err)
	}
	if m["big"] != json.Number(big) || m["port"] != float64(8080) || m["e"] != float64(1000) || m["f"] != json.Number("1.50") {
		t.Fatalf("decoded %#v", m)
	}
	v, err := m.Value()
	if err != nil {
		t.Fatal(err)
	}
	var back model.JSONMap
	if err := back.Scan(v); err != nil {
		t.Fatal(err)
	}
	if back["big"] != json.Number(big) || back["n"].(map[string]any)["x"].([]any)[0] != json.Number(big) {
		t.Fatalf("scanned %#v from %s", back, v)
	}
	// What SQLite holds from before (float text) and what PostgreSQL's
	// jsonb writes read the same.
	var old, pg model.JSONMap
	if err := old.Scan(`{"a":1e+21}`); err != nil {
		t.Fatal(err)
	}
	if err := pg.Scan(`{"a": 1000000000000000000000}`); err != nil {
		t.Fatal(err)
	}
	if old["a"] != pg["a"] || old["a"] != json.Number("1000000000000000000000") {
		t.Fatalf("1e+21 read as %#v and %#v", old["a"], pg["a"])
	}
}

// TestParseID: ids are UUIDs in either case, canonical in lower case.
func TestParseID(t *testing.T) {
	id := model.NewID()
	for _, s := range []string{id, strings.ToUpper(id)} {
		if got, ok := steward.ParseID(s); !ok || got != id {
			t.Errorf("ParseID(%s) = %s, %v", s, got, ok)
		}
	}
	if !steward.IsID(id) || steward.IsID(strings.ToUpper(id)) {
		t.Error("IsID accepts exactly the canonical form")
	}
	for _, s := range []string{"", "x", "{" + id + "}", "urn:uuid:" + id, strings.ReplaceAll(id, "-", ""), id + " "} {
		if _, ok := steward.ParseID(s); ok {
			t.Errorf("ParseID(%q) accepted", s)
		}
	}
}
