package schedule

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	steward "github.com/stewardhq/steward"
)

// Cron is a parsed cron_schedule in its time zone. Fire times are computed
// on the wall clock of the zone, so that the two days a year whose clocks
// jump keep the rules a user expects: a wall time that does not exist that
// day (the hour skipped in spring) fires at the first minute after the jump,
// and a wall time that happens twice (the hour repeated in autumn) fires
// once, at its first occurrence. robfig/cron computes on instants and would
// skip the first and fire the second twice.
type Cron struct {
	spec cron.Schedule // evaluated on wall-clock times written as UTC
	loc  *time.Location
}

const (
	ptrCron     = "cron_schedule"
	ptrTimezone = "timezone"
)

// ParseCron parses a five-field cron expression or a descriptor (@hourly,
// @daily, @weekly, @monthly, @yearly, @midnight, @annually) in the IANA zone
// tz ("" is UTC). The parser's own reason is the detail of a bad
// expression; @every, which counts from whenever the process started
// rather than the clock, and a zone inside the expression are refused.
func ParseCron(expr, tz string) (*Cron, error) {
	loc, err := LoadZone(tz)
	if err != nil {
		return nil, err
	}
	e := strings.TrimSpace(expr)
	switch {
	case e == "":
		return nil, steward.Invalid(ptrCron, "blank", "cron_schedule must not be empty")
	case len(e) > 200:
		return nil, steward.Invalid(ptrCron, "too_long", "cron_schedule must be at most 200 characters")
	case strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ="):
		return nil, steward.Invalid(ptrCron, "invalid_cron_schedule", "cron_schedule must not name a time zone; set the timezone attribute instead")
	case strings.HasPrefix(e, "@every"):
		return nil, steward.Invalid(ptrCron, "invalid_cron_schedule", "@every is not supported: give five cron fields or @hourly, @daily, @weekly, @monthly, @yearly")
	}
	s, err := cron.ParseStandard(e)
	if err != nil {
		return nil, steward.Invalid(ptrCron, "invalid_cron_schedule", "cron_schedule %s is invalid: %s", steward.Echo(e), err.Error())
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = time.UTC
	}
	c := &Cron{spec: s, loc: loc}
	return c, nil
}

// LoadZone loads an IANA time zone name; "" is UTC. "Local" is refused: it
// would mean whatever zone each replica runs in.
func LoadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if tz == "Local" || strings.HasPrefix(tz, "/") || len(tz) > 100 {
		return nil, steward.Invalid(ptrTimezone, "unknown_timezone", "timezone %s is not an IANA time zone name (such as Europe/London)", steward.Echo(tz))
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, steward.Invalid(ptrTimezone, "unknown_timezone", "timezone %s is not an IANA time zone name (such as Europe/London)", steward.Echo(tz))
	}
	return loc, nil
}

// Location is the schedule's time zone.
func (c *Cron) Location() *time.Location { return c.loc }

// Next is the first fire time strictly after t, in UTC; the zero time when
// the expression matches no date within five years (30 February).
func (c *Cron) Next(t time.Time) time.Time {
	wall := wallOf(t.In(c.loc))
	for i := 0; i < 10000; i++ {
		wall = c.spec.Next(wall)
		if wall.IsZero() {
			return time.Time{}
		}
		at := c.instant(wall)
		if at.After(t) {
			return at.UTC()
		}
		// The wall time is in a repeated hour already passed, or in a
		// skipped hour whose instant is the one just fired: look further.
	}
	return time.Time{}
}

// NextN is the next n fire times after t.
func (c *Cron) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for len(out) < n {
		t = c.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// wallOf is t's wall clock in its zone, written as a UTC time.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// instant is the first instant whose wall clock in the zone is wall, or,
// when the clock skips wall that day, the first instant after the skip.
func (c *Cron) instant(wall time.Time) time.Time {
	at := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, c.loc)
	if !wallOf(at).Equal(wall) {
		// Skipped: Go normalised to one side of the jump (which side is not
		// promised). The jump itself is the first instant whose wall clock
		// is past wall.
		for t := at.Add(-3 * time.Hour).Truncate(time.Minute); t.Before(at.Add(3 * time.Hour)); t = t.Add(time.Minute) {
			if wallOf(t.In(c.loc)).After(wall) {
				return t
			}
		}
		return at
	}
	// Repeated: an earlier instant may show the same wall clock (clocks
	// go back by 30 minutes, an hour or two hours).
	for _, back := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
		if e := at.Add(-back); wallOf(e.In(c.loc)).Equal(wall) {
			return e
		}
	}
	return at
}
