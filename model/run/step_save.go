package run

import (
	"sort"
	"strings"

	"github.com/stewardhq/steward/model"
)

// save writes what a move changed: the dirty steps, the change and the
// move's events, in one statement on PostgreSQL (with the NOTIFY that ends
// live log streams when the change ended).
func (r *changeRun) save() error {
	var stmts []model.Statement
	for _, st := range r.steps {
		if r.dirty[st] {
			st.UpdatedAt = r.now
			stmts = append(stmts, update("steps", stepColumns(st), st.ID))
		}
	}
	if r.cDirty {
		r.c.UpdatedAt = r.now
		stmts = append(stmts, update("changes", changeColumns(r.c), r.c.ID))
	}
	r.changed = len(stmts) > 0
	var notify []model.Notify
	if r.s.postgres() && r.ended() {
		notify = append(notify, model.Notify{Channel: LogLinesChannel, Payload: r.c.ID})
	}
	events := r.events
	r.events = nil
	return r.s.ExecWithEvents(r.tx, stmts, events, notify)
}

// ended reports whether this move ended the change.
func (r *changeRun) ended() bool { return r.cDirty && Terminal(r.c.Status) }

// update is an UPDATE of one row's columns, in a stable column order.
func update(table string, cols map[string]any, id string) model.Statement {
	names := make([]string, 0, len(cols))
	for k := range cols {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	args := make([]any, 0, len(names)+1)
	b.WriteString("UPDATE " + table + " SET ")
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + " = ?")
		args = append(args, cols[k])
	}
	b.WriteString(" WHERE id = ?")
	return model.Statement{SQL: b.String(), Args: append(args, id)}
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
