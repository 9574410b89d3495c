package converge

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// pgNumbers are JSON numbers and the text PostgreSQL 15's jsonb returns for
// them (select '[...]'::jsonb), which CanonicalNumber must reproduce.
var pgNumbers = [][2]string{
	{"1e3", "1000"}, {"1.50", "1.50"}, {"1.5e1", "15"}, {"1.55e1", "15.5"}, {"1e-3", "0.001"},
	{"12e-1", "1.2"}, {"0e5", "0"}, {"0.000e2", "0.0"}, {"-0", "0"}, {"-0.00", "0.00"},
	{"-1.50e1", "-15.0"}, {"123456789012345678901234567890", "123456789012345678901234567890"},
	{"0.1", "0.1"}, {"1E2", "100"}, {"1e+2", "100"}, {"0e-3", "0.000"}, {"0e1073741822", "0"},
	{"1e400", "1" + strings.Repeat("0", 400)}, {"1e-16383", "0." + strings.Repeat("0", 16382) + "1"},
	{"0.0001e4", "1"}, {"-12.3400e-2", "-0.123400"}, {"7", "7"},
}

func TestCanonicalNumber(t *testing.T) {
	for _, c := range pgNumbers {
		if got, err := CanonicalNumber(c[0]); err != nil || got != c[1] {
			t.Errorf("CanonicalNumber(%s) = %.60s, %v; want %.60s", c[0], got, err, c[1])
		}
	}
	// PostgreSQL refuses these ("value overflows numeric format"); so does Steward.
	for _, s := range []string{"0e1073741823", "1e131072", "1e-16384", "0e-16384", "1e99999999999", "1e-2147483648"} {
		var ne *NumberError
		if _, err := CanonicalNumber(s); !errors.As(err, &ne) {
			t.Errorf("CanonicalNumber(%s): %v, want a NumberError", s, err)
		}
	}
	if got, err := CanonicalNumber("1e131071"); err != nil || len(got) != 131072 {
		t.Errorf("1e131071: %d digits, %v", len(got), err)
	}
	for _, s := range []string{"", "-", "01", "1.", ".1", "1e", "1e+", "+1", "0x1", "1_0", "NaN", "Infinity", " 1", "1 "} {
		if _, err := CanonicalNumber(s); err == nil {
			t.Errorf("CanonicalNumber(%q) accepted", s)
		}
	}
}

func TestDecodeJSONExact(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"big":123456789012345678901234567890,"port":8080,"tenth":0.1,"f":1.50,"e":1e21,"l":[1e2,-0]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"big": json.Number("123456789012345678901234567890"), "port": float64(8080), "tenth": 0.1,
		"f": json.Number("1.50"), "e": json.Number("1000000000000000000000"), "l": []any{float64(100), float64(0)}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	// Deep merge keeps json.Number values as they are, at any depth.
	merged := Merge(map[string]any{"a": map[string]any{"x": json.Number("1.50")}}, map[string]any{"a": map[string]any{"y": json.Number("2.50")}})
	if b, _ := json.Marshal(merged); string(b) != `{"a":{"x":1.50,"y":2.50}}` {
		t.Errorf("merged %s", b)
	}
	// A document of exponents cannot grow without bound.
	many := "[" + strings.Repeat("1e100000,", (MaxNumberGrowth/100000)+1) + "1]"
	var ne *NumberError
	if _, err := DecodeJSON([]byte(many)); !errors.As(err, &ne) || ne.Pointer == "" {
		t.Errorf("exponent bomb: %v", err)
	}
	if _, err := DecodeJSON([]byte(`{"a":{"b/c":[0,1e200000]}}`)); !errors.As(err, &ne) || ne.Pointer != "/a/b~1c/1" {
		t.Errorf("pointer of a number out of range: %v", err)
	}
	if _, err := DecodeJSON([]byte(`{} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}

// TestParseExactNumbers: repository property files keep their numbers too.
func TestParseExactNumbers(t *testing.T) {
	for file, content := range map[string]string{
		"a.json": `{"n": 123456789012345678901234567890, "e": 1e3}`,
		"a.yaml": "n: 123456789012345678901234567890\ne: 1000\n",
		"a.toml": "n = 123456789012345678\ne = 1000\n",
	} {
		got, err := Parse(file, []byte(content))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got["e"] != float64(1000) {
			t.Errorf("%s: e = %#v", file, got["e"])
		}
		if file == "a.json" && got["n"] != json.Number("123456789012345678901234567890") ||
			file == "a.toml" && got["n"] != json.Number("123456789012345678") {
			t.Errorf("%s: n = %#v", file, got["n"])
		}
	}
}
