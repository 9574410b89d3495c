package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Every rune of the first planes, and every byte alone (invalid UTF-8
// among them), quoted as encoding/json quotes it, from a string and from
// bytes alike.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, _ := json.Marshal(s)
		if got := Append(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q as a string: got %s, want %s", s, got, want)
		}
		if got := Append(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q as bytes: got %s, want %s", s, got, want)
		}
	}
	for c := rune(0); c < 0x3000; c++ {
		check("a" + string(c) + "b")
	}
	for b := 0; b < 256; b++ {
		check(string([]byte{'x', byte(b), 'y'}))
	}
	check("\xe2\x80") // a rune cut short at the end
	check("")
}
