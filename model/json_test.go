package model_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

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

// TestPropertyPatchKeepsNumbersExact: the RFC 6902 patch a step writes is
// applied without rounding the numbers already there or the ones it adds.
func TestPropertyPatchKeepsNumbersExact(t *testing.T) {
	m := newMachine(t)
	big := "123456789012345678901234567890"
	var data model.JSONMap
	if err := json.Unmarshal([]byte(`{"big":`+big+`,"keep":0.1}`), &data); err != nil {
		t.Fatal(err)
	}
	if _, err := m.store.UpdatePropertySet(m.ctx, model.SystemActor, model.KindProperties, m.project.PropertiesID,
		model.PropertySetUpdate{Data: data}); err != nil {
		t.Fatal(err)
	}
	m.start(t, "one")
	st := m.claim(t, "w", time.Minute)
	patch := `[{"op":"add","path":"/added","value":98765432109876543210.0123456789},{"op":"add","path":"/e","value":1e400},` +
		`{"op":"copy","from":"/big","path":"/copy"}]`
	if err := m.store.FinishStep(m.ctx, st.ID, "w", model.StepResult{OK: true, PropertyPatch: []byte(patch)}); err != nil {
		t.Fatal(err)
	}
	ps, err := m.store.GetPropertySet(m.ctx, model.KindProperties, m.project.PropertiesID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"big": json.Number(big), "keep": 0.1, "copy": json.Number(big),
		"added": json.Number("98765432109876543210.0123456789"), "e": json.Number("1" + strings.Repeat("0", 400))}
	for k, w := range want {
		if ps.Data[k] != w {
			t.Errorf("%s = %#v, want %#v", k, ps.Data[k], w)
		}
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
