package steward

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEchoAndBounded(t *testing.T) {
	long := strings.Repeat("é", 5000)
	if got := Echo(long); utf8.RuneCountInString(got) > MaxEcho+3 || !strings.HasSuffix(got, `…"`) {
		t.Errorf("Echo of 5000 characters = %d characters", utf8.RuneCountInString(got))
	}
	if got := Echo("short"); got != `"short"` {
		t.Errorf("Echo(short) = %s", got)
	}
	e := (&Error{Detail: long, Field: long, Parameter: long, Pointer: long}).Bounded()
	for name, v := range map[string]string{"detail": e.Detail, "field": e.Field, "parameter": e.Parameter, "pointer": e.Pointer} {
		if len(v) > maxDetail+len("…") || !utf8.ValidString(v) {
			t.Errorf("%s: %d bytes, valid UTF-8 %v", name, len(v), utf8.ValidString(v))
		}
	}
	small := &Error{Detail: "fine"}
	if small.Bounded() != small {
		t.Error("an error within the caps was copied")
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]string{
		"01A233B3-7046-7374-8FFB-D36BA8AB849F": "01a233b3-7046-7374-8ffb-d36ba8ab849f",
		"01a233b3-7046-7374-8ffb-d36ba8ab849f": "01a233b3-7046-7374-8ffb-d36ba8ab849f",
	} {
		if got, ok := ParseID(in); !ok || got != want {
			t.Errorf("ParseID(%q) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "x", "01a233b3704673748ffbd36ba8ab849f", "{01a233b3-7046-7374-8ffb-d36ba8ab849f}", "urn:uuid:01a233b3-7046-7374-8ffb-d36ba8ab849"} {
		if _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
	if IsID("01A233B3-7046-7374-8FFB-D36BA8AB849F") || !IsID("01a233b3-7046-7374-8ffb-d36ba8ab849f") {
		t.Error("IsID must accept exactly the stored form")
	}
}
