package converge

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzCanonicalNumber: every JSON number is either kept (in a canonical
// text that is a JSON number, is its own canonical text and has exactly the
// same value) or refused as out of range; anything else is refused as not a
// number.
func FuzzCanonicalNumber(f *testing.F) {
	for _, c := range pgNumbers {
		f.Add(c[0])
	}
	for _, s := range []string{"1e131072", "0e-16384", "-", "01", "1.", "1e", "+1", "1E+00000000000000000001", "-0.0e-0", "9.999e-7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		canon, err := CanonicalNumber(s)
		isNumber := isJSONNumber(s)
		if err != nil {
			var ne *NumberError
			if errors.As(err, &ne) != isNumber {
				t.Fatalf("%q: %v (a JSON number: %v)", s, err, isNumber)
			}
			return
		}
		if !isNumber {
			t.Fatalf("%q is not a JSON number but gave %q", s, canon)
		}
		if !isJSONNumber(canon) || strings.ContainsAny(canon, "eE") {
			t.Fatalf("%q: canonical %q", s, canon)
		}
		if again, err := CanonicalNumber(canon); err != nil || again != canon {
			t.Fatalf("%q: canonical %q is not its own canonical text (%q, %v)", s, canon, again, err)
		}
		zero := strings.Trim(canon, "-0.") == ""
		if zero && strings.HasPrefix(canon, "-") {
			t.Fatalf("%q: signed zero %q", s, canon)
		}
		// The same value: compare as rationals when the exponent is small
		// enough to compute with (a large one only succeeds on zero).
		if _, _, _, exp, _ := splitNumber(s); exp > -20000 && exp < 200000 {
			a, okA := new(big.Rat).SetString(s)
			b, okB := new(big.Rat).SetString(canon)
			if !okA || !okB || a.Cmp(b) != 0 {
				t.Fatalf("%q and its canonical %q differ in value", s, canon)
			}
		} else if !zero {
			t.Fatalf("%q: exponent %d accepted on a non-zero number", s, exp)
		}
		if fs, err := strconv.ParseFloat(s, 64); err == nil {
			if fc, _ := strconv.ParseFloat(canon, 64); fc != fs {
				t.Fatalf("%q (%v) and %q (%v) round to different floats", s, fs, canon, fc)
			}
		}
		switch v := numberValue(canon).(type) {
		case float64:
			if b, _ := json.Marshal(v); string(b) != canon {
				t.Fatalf("%q held as float64 %v, which writes %s", canon, v, b)
			}
		case json.Number:
			if string(v) != canon {
				t.Fatalf("%q held as %q", canon, v)
			}
		}
	})
}

func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || strings.TrimSpace(s) != s {
		return false
	}
	return json.Valid([]byte(s))
}

// FuzzParse: a repository property file is hostile input. Parsing never
// panics; a refusal is a *ParseError naming the file; an accepted file is a
// JSON object whose exact values encode and decode to themselves.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ ext, content string }{
		{".json", `{"n": 123456789012345678901234567890, "e": 1e400, "a": [1, "x", null, {"b": true}]}`},
		{".json", `{"a": 1} {"b": 2}`}, {".json", `[1]`}, {".json", `null`}, {".json", `{"a":1e200000}`},
		{".yaml", "layer: repo\nlist: [1, 2]\nnested:\n  a: repo\n  b: 1.5e3\n"}, {".yaml", "1: x\n? [a]\n: y\n"},
		{".yaml", "a: &x {b: 1}\nc: *x\nd: !!binary aGk=\nt: 2025-04-25T06:21:23Z\n"}, {".yaml", "- a\n"}, {".yaml", "steps: !!seq\n"},
		{".toml", "tier = \"gold\"\nn = 123456789012345678\n[t]\nd = 1979-05-27T07:32:00Z\nf = 1e300\n"}, {".toml", "a = inf\n"},
		{".yml", ""}, {".txt", "x"},
	} {
		f.Add(seed.ext, []byte(seed.content))
	}
	f.Fuzz(func(t *testing.T, ext string, content []byte) {
		file := "properties/x" + ext
		got, err := Parse(file, content)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != file || pe.Msg == "" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if got == nil {
			t.Fatal("nil object")
		}
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("%v cannot be encoded: %v", got, err)
		}
		back, err := DecodeJSON(enc)
		if err != nil || !reflect.DeepEqual(back, any(got)) {
			t.Fatalf("%s decodes to %#v (%v), not %#v", enc, back, err, got)
		}
		if enc2, _ := json.Marshal(back); !bytes.Equal(enc, enc2) {
			t.Fatalf("%s re-encodes as %s", enc, enc2)
		}
	})
}
