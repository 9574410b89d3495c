package schedule

import (
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/pkg/db"
)

// The statements a group's transaction writes its activities with: one per
// rowsPerStatement activities for each of the claim, the firing rows and
// the last-run facts, instead of one per activity. Each is one SQL text on
// both dialects but for PostgreSQL's parameter types.

// rowsPerStatement bounds the rows of one statement: the SQLite driver
// binds parameters in time that grows with the square of their number.
const rowsPerStatement = 64

// valuesTable is a VALUES list of n rows of len(types) bound parameters,
// named v with columns column1, column2, ... (SQLite's own names, given
// to PostgreSQL, which also needs the types of its parameters).
func valuesTable(tx *gorm.DB, types []string, n int) string {
	pg := db.DialectOf(tx) == db.Postgres
	var b strings.Builder
	b.WriteString("(VALUES ")
	for r := 0; r < n; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c, typ := range types {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
			if pg {
				b.WriteString("::" + typ)
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS v")
	if pg {
		b.WriteByte('(')
		for c := range types {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "column%d", c+1)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// chunks calls fn with each run of at most rowsPerStatement of n items.
func chunks(n int, fn func(from, to int) error) error {
	for from := 0; from < n; from += rowsPerStatement {
		if err := fn(from, min(from+rowsPerStatement, n)); err != nil {
			return err
		}
	}
	return nil
}

// returningIDs runs q and collects the first column of its rows.
func returningIDs(tx *gorm.DB, q string, args []any) (map[string]bool, error) {
	rows, err := tx.Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// claimAll moves each activity's next_run_at on from the value this
// evaluation read, while its updated_at is still the one read too (a PATCH
// since, which may keep next_run_at, makes the claim lose, and the activity
// is evaluated again with its new definition), with the last-run facts its
// decided firings leave (lastFacts), and marks the ones it moved claimed.
// One that another evaluation moved first is not claimed: it writes nothing. On PostgreSQL
// the row lock the update takes makes a concurrent evaluation of the same
// activity wait, then find its claim gone.
func claimAll(tx *gorm.DB, ds []*decided, stamp time.Time) error {
	return chunks(len(ds), func(from, to int) error {
		args := []any{stamp}
		for _, d := range ds[from:to] {
			a := d.p.a
			var next *time.Time
			enabled := a.Repeat && !d.p.next.IsZero()
			if enabled {
				next = &d.p.next
			}
			run, sha, at := d.lastFacts()
			args = append(args, a.ID, *a.NextRunAt, next, enabled, run, sha, at, a.UpdatedAt)
		}
		// "enabled <> false", not "enabled = true": SQLite would otherwise
		// look each row up in the due index on (enabled, next_run_at, id),
		// through every activity due at that instant, not by its id.
		args = append(args, false)
		q := "UPDATE scheduled_activities SET next_run_at = v.column3, enabled = v.column4, updated_at = ?," +
			" last_run_id = v.column5, last_commit_sha = v.column6, last_fired_at = v.column7 FROM " +
			valuesTable(tx, []string{"uuid", "timestamptz", "timestamptz", "boolean", "uuid", "text", "timestamptz", "timestamptz"}, to-from) +
			" WHERE scheduled_activities.id = v.column1 AND scheduled_activities.next_run_at = v.column2" +
			" AND scheduled_activities.updated_at = v.column8" +
			" AND scheduled_activities.enabled <> ? RETURNING id"
		claimed, err := returningIDs(tx, q, args)
		if err != nil {
			return err
		}
		for _, d := range ds[from:to] {
			d.claimed = claimed[d.p.a.ID]
		}
		return nil
	})
}

// lastFacts is the activity's latest run, the commit it ran and its fire
// time once d's firings are written: those of its last fired outcome not
// lost, else what the activity had. A run with no id yet (a workflow run,
// inserted later) leaves the run as it was; fixLast writes it.
func (d *decided) lastFacts() (run, sha *string, at *time.Time) {
	a := d.p.a
	run, sha, at = a.LastRunID, a.LastCommitSHA, a.LastFiredAt
	for i := range d.outcomes {
		o := &d.outcomes[i]
		if o.run == nil || o.lost {
			continue
		}
		if id := o.run.RunID(); id != "" {
			run = &id
		}
		if s := o.run.CommitSHA(); s != "" {
			sha = &s
		}
		fired := o.firing.FireAt
		at = &fired
	}
	return run, sha, at
}

// insertFirings inserts the firing rows of the claimed activities, each
// unless its (activity, fire time) exists already, and marks the outcomes
// whose row existed lost: that fire time was handled, and makes nothing
// here, while the rest of the group is written. An activity's rows go in
// rounds (its first fire time, then its second, ...) so that each statement
// names an activity once and its RETURNING says which rows it inserted.
func insertFirings(tx *gorm.DB, ds []*decided) error {
	var rounds [][]*outcome
	for _, d := range ds {
		if !d.claimed {
			continue
		}
		n := 0
		for i := range d.outcomes {
			if d.outcomes[i].firing == nil {
				continue
			}
			if n == len(rounds) {
				rounds = append(rounds, nil)
			}
			rounds[n] = append(rounds[n], &d.outcomes[i])
			n++
		}
	}
	for _, round := range rounds {
		err := chunks(len(round), func(from, to int) error {
			var q strings.Builder
			q.WriteString("INSERT INTO scheduled_firings (activity_id, fire_at, outcome, run_id, reason, created_at) VALUES ")
			args := make([]any, 0, 6*(to-from))
			for i, o := range round[from:to] {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?)")
				f := o.firing
				args = append(args, f.ActivityID, f.FireAt, f.Outcome, f.RunID, f.Reason, f.CreatedAt)
			}
			q.WriteString(" ON CONFLICT DO NOTHING RETURNING activity_id")
			won, err := returningIDs(tx, q.String(), args)
			if err != nil {
				return err
			}
			for _, o := range round[from:to] {
				o.lost = !won[o.firing.ActivityID]
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fixLast rewrites the last-run facts of the claimed activities whose
// claim could not know them: one a firing of which lost (its row existed),
// or one whose last run is a workflow run, whose id is known once inserted.
func fixLast(tx *gorm.DB, ds []*decided) error {
	for _, d := range ds {
		if !d.claimed || !d.lastUnknown() {
			continue
		}
		run, sha, at := d.lastFacts()
		err := tx.Model(&Activity{}).Where("id = ?", d.p.a.ID).
			Updates(map[string]any{"last_run_id": run, "last_commit_sha": sha, "last_fired_at": at}).Error
		if err != nil {
			return err
		}
	}
	return nil
}

// lastUnknown reports whether the facts claimAll wrote for d may be wrong.
func (d *decided) lastUnknown() bool {
	for i := range d.outcomes {
		if o := &d.outcomes[i]; o.run != nil && (o.lost || o.workflow) {
			return true
		}
	}
	return false
}
