package run

import (
	"fmt"
	"sort"
	"strings"
)

// save writes what a move changed: the dirty steps and the change.
func (r *changeRun) save() error {
	var steps []*Step
	for _, st := range r.steps {
		if r.dirty[st] {
			st.UpdatedAt = r.now
			steps = append(steps, st)
		}
	}
	if r.cDirty {
		r.c.UpdatedAt = r.now
	}
	if len(steps) == 0 && !r.cDirty {
		return nil
	}
	r.changed = true
	if r.s.postgres() {
		return r.saveOne(steps)
	}
	for _, st := range steps {
		if err := r.tx.Model(&Step{}).Where("id = ?", st.ID).Updates(stepColumns(st)).Error; err != nil {
			return err
		}
	}
	if r.cDirty {
		return r.tx.Model(&Change{}).Where("id = ?", r.c.ID).Updates(changeColumns(r.c)).Error
	}
	return nil
}

// stepColumns and changeColumns are what a move may change.
func stepColumns(st *Step) map[string]any {
	return map[string]any{
		"status": st.Status, "queued_at": st.QueuedAt, "started_at": st.StartedAt, "finished_at": st.FinishedAt,
		"lease_owner": st.LeaseOwner, "lease_expires_at": st.LeaseExpiresAt,
		"approved_by": st.ApprovedBy, "rejected_by": st.RejectedBy, "continued_by": st.ContinuedBy,
		"updated_at": st.UpdatedAt,
	}
}

func changeColumns(c *Change) map[string]any {
	return map[string]any{"status": c.Status, "started_at": c.StartedAt, "finished_at": c.FinishedAt,
		"mintmodel_id": c.MintmodelID, "updated_at": c.UpdatedAt}
}

// saveOne writes the dirty steps and the change in one statement on
// PostgreSQL: each UPDATE but the last in a WITH (data-modifying CTEs all
// run, on the transaction's snapshot; they touch different rows).
func (r *changeRun) saveOne(steps []*Step) error {
	var sql strings.Builder
	var args []any
	update := func(table string, cols map[string]any, id string) string {
		names := make([]string, 0, len(cols))
		for k := range cols {
			names = append(names, k)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("UPDATE " + table + " SET ")
		for i, k := range names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + " = ?")
			args = append(args, cols[k])
		}
		b.WriteString(" WHERE id = ?")
		args = append(args, id)
		return b.String()
	}
	var parts []string
	for _, st := range steps {
		parts = append(parts, update("steps", stepColumns(st), st.ID))
	}
	if r.cDirty {
		parts = append(parts, update("changes", changeColumns(r.c), r.c.ID))
	}
	for i, p := range parts[:len(parts)-1] {
		if i == 0 {
			sql.WriteString("WITH ")
		} else {
			sql.WriteString(", ")
		}
		fmt.Fprintf(&sql, "u%d AS (%s)", i, p)
	}
	if len(parts) > 1 {
		sql.WriteString(" ")
	}
	sql.WriteString(parts[len(parts)-1])
	return r.tx.Exec(sql.String(), args...).Error
}
