package schedule_test

import (
	"testing"
	"time"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model/schedule"
)

func TestParseCronRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, expr, tz, field, code, detail string
	}{
		{"six fields", "0 */5 * * * *", "", "cron_schedule", "invalid_cron_schedule", "expected exactly 5 fields, found 6"},
		{"garbage", "every tuesday", "", "cron_schedule", "invalid_cron_schedule", "expected exactly 5 fields"},
		{"minute out of range", "61 * * * *", "", "cron_schedule", "invalid_cron_schedule", "above maximum"},
		{"unknown descriptor", "@fortnightly", "", "cron_schedule", "invalid_cron_schedule", "unrecognized descriptor"},
		{"every", "@every 1s", "", "cron_schedule", "invalid_cron_schedule", "@every is not supported"},
		{"zone inside", "CRON_TZ=Europe/London 0 1 * * *", "", "cron_schedule", "invalid_cron_schedule", "timezone attribute"},
		{"blank", "  ", "", "cron_schedule", "blank", ""},
		{"unknown zone", "0 1 * * *", "Mars/Olympus", "timezone", "unknown_timezone", "Mars/Olympus"},
		{"local zone", "0 1 * * *", "Local", "timezone", "unknown_timezone", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := schedule.ParseCron(c.expr, c.tz)
			e := steward.AsError(err)
			if e == nil || e.Kind != steward.KindInvalid || e.Field != c.field || e.Code != c.code {
				t.Fatalf("got %v, want %s at %s", err, c.code, c.field)
			}
			if c.detail != "" && !contains(e.Detail, c.detail) {
				t.Fatalf("detail %q lacks %q", e.Detail, c.detail)
			}
		})
	}
	for _, ok := range []string{"*/1 * * * *", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight", "0 9 * * MON-FRI"} {
		if _, err := schedule.ParseCron(ok, "Europe/London"); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0))
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Fire times across the days clocks change: a wall time the clock skips
// fires at the first minute after the jump, a repeated one fires once.
func TestNextAcrossDST(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	cases := []struct {
		name, expr, tz, from string
		want                 []string // UTC
	}{
		// London springs 01:00 GMT -> 02:00 BST on 2025-03-30.
		{"london spring skipped time", "30 1 * * *", "Europe/London", "2025-03-29T12:00:00Z",
			[]string{"2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"}},
		{"london spring hourly", "0 * * * *", "Europe/London", "2025-03-29T23:30:00Z",
			[]string{"2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z"}},
		{"london spring every 20 min in the gap", "*/20 1 * * *", "Europe/London", "2025-03-30T00:30:00Z",
			[]string{"2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z"}},
		// London falls back 02:00 BST -> 01:00 GMT on 2025-10-26: 01:xx happens twice.
		{"london autumn repeated time", "30 1 * * *", "Europe/London", "2025-10-25T12:00:00Z",
			[]string{"2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"}},
		{"london autumn hourly", "0 * * * *", "Europe/London", "2025-10-25T23:30:00Z",
			[]string{"2025-10-26T00:00:00Z", "2025-10-26T02:00:00Z", "2025-10-26T03:00:00Z"}},
		// New York springs 02:00 EST -> 03:00 EDT on 2025-03-09.
		{"new york spring skipped time", "30 2 * * *", "America/New_York", "2025-03-08T12:00:00Z",
			[]string{"2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"}},
		{"new york spring daily before gap", "30 1 * * *", "America/New_York", "2025-03-08T12:00:00Z",
			[]string{"2025-03-09T06:30:00Z", "2025-03-10T05:30:00Z"}},
		// New York falls back 02:00 EDT -> 01:00 EST on 2025-11-02.
		{"new york autumn repeated time", "30 1 * * *", "America/New_York", "2025-11-01T12:00:00Z",
			[]string{"2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"}},
		{"new york autumn every 30 min", "*/30 * * * *", "America/New_York", "2025-11-02T04:45:00Z",
			[]string{"2025-11-02T05:00:00Z", "2025-11-02T05:30:00Z", "2025-11-02T07:00:00Z", "2025-11-02T07:30:00Z"}},
		{"utc minute", "*/1 * * * *", "", "2025-01-01T00:00:30Z",
			[]string{"2025-01-01T00:01:00Z", "2025-01-01T00:02:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cr, err := schedule.ParseCron(c.expr, c.tz)
			if err != nil {
				t.Fatal(err)
			}
			got := cr.NextN(utc(c.from), len(c.want))
			for i, w := range c.want {
				if i >= len(got) || !got[i].Equal(utc(w)) {
					t.Fatalf("fire times %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestNextNeverFires(t *testing.T) {
	t.Parallel()
	cr, err := schedule.ParseCron("0 0 30 2 *", "")
	if err != nil {
		t.Fatal(err)
	}
	if next := cr.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); !next.IsZero() {
		t.Fatalf("30 February fired at %s", next)
	}
}
