package run

import (
	"fmt"
	"strings"
	"time"
)

// sqliteTimeLayouts are the layouts the SQLite driver reads times in, tried
// in its order when a time is not in the one it writes.
var sqliteTimeLayouts = []string{
	sqliteTimeFormat,
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
}

// parseSQLiteTime reads a time as SQLite holds it. The layout the driver
// writes ("2006-01-02 15:04:05.999999999-07:00") is read digit by digit:
// time.Parse costs as much as the rest of a streamed line.
func parseSQLiteTime(b []byte) (time.Time, error) {
	if t, ok := fastSQLiteTime(b); ok {
		return t, nil
	}
	s := strings.TrimSuffix(string(b), "Z")
	for _, layout := range sqliteTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("log line time %q: not a time", b)
}

// fastSQLiteTime parses "YYYY-MM-DD HH:MM:SS[.fraction]±HH:MM".
func fastSQLiteTime(b []byte) (time.Time, bool) {
	if len(b) < 25 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	rest := b[19:]
	ns := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		digits := rest[1:i]
		if len(digits) == 0 || len(digits) > 9 {
			return time.Time{}, false
		}
		ns, _ = num(digits)
		for k := len(digits); k < 9; k++ {
			ns *= 10
		}
		rest = rest[i:]
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return time.Time{}, false
	}
	oh, okh := num(rest[1:3])
	om, okm := num(rest[4:6])
	if !okh || !okm {
		return time.Time{}, false
	}
	offset := (oh*60 + om) * 60
	if rest[0] == '-' {
		offset = -offset
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if mo < 1 || mo > 12 || t.Day() != d || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false // let time.Parse judge what Date normalised
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}
