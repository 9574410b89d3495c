package run

import (
	"testing"
	"time"
)

// TestParseSQLiteTime: the digit-by-digit reading of the driver's layout
// agrees with time.Parse, and other layouts the driver reads still parse.
func TestParseSQLiteTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string // RFC 3339; "" when in is not a time
	}{
		{"2026-12-02 05:00:00.123456789+00:00", "2026-12-02T05:00:00.123456789Z"},
		{"2026-12-02 05:00:00.1234+00:00", "2026-12-02T05:00:00.1234Z"},
		{"2026-12-02 05:00:00+00:00", "2026-12-02T05:00:00Z"},
		{"2026-12-02 05:00:00.5+01:30", "2026-12-02T03:30:00.5Z"},
		{"2026-01-01 00:10:00.000001-02:00", "2026-01-01T02:10:00.000001Z"},
		{"2026-12-02T05:00:00.25Z", "2026-12-02T05:00:00.25Z"},
		{"2026-12-02 05:00:00", "2026-12-02T05:00:00Z"},
		{"2026-02-30 05:00:00.1+00:00", ""},
		{"2026-12-02 25:00:00.1+00:00", ""},
		{"2026-12-02 05:00:00.+00:00", ""},
		{"not a time at all, not at all", ""},
		{"", ""},
	} {
		got, err := parseSQLiteTime([]byte(tc.in))
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q: got %v, want an error", tc.in, got)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, tc.want)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, want)
		}
	}
}
