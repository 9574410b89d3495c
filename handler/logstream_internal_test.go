package handler

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"
)

// TestAppendLogEventMatchesEncodingJSON: the hand-written event is what
// encoding/json makes of the line's resource, for every kind of character.
func TestAppendLogEventMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.FixedZone("x", 3600))
	for _, msg := range []string{
		"",
		"plain line of output",
		`quotes " and \ backslashes`,
		"tab\tnewline\ncarriage\rbell\x07nul\x00escape\x1b[31m",
		"\b\f\x7f",
		"<html> & </html>",
		"héllo wörld ✓ 日本語 🙂",
		"line\u2028separator\u2029paragraph",
		"invalid \xff\xfe utf-8 \xc3",
		"replacement \uFFFD kept",
	} {
		l := run.LogLine{ID: 42, ChangeID: "0b6c0c39-1f7b-4c4e-9d57-2f8f5b7e2a11",
			StepID: "7d1b5c1e-6f43-4a8e-b7a1-58d4f0c9a3e2", Message: msg, LoggedAt: at}
		data, err := json.Marshal(logLineResource(&l))
		if err != nil {
			t.Fatal(err)
		}
		want := "id: " + strconv.FormatInt(l.ID, 10) + "\ndata: " + string(data) + "\n\n"
		got := string(appendLogEvent(nil, l.ChangeID, &run.LogRow{ID: l.ID, StepID: []byte(l.StepID),
			Message: []byte(msg), LoggedAt: at}))
		if got != want {
			t.Errorf("message %q:\n got %s\nwant %s", msg, got, want)
		}
	}
}
