package model

import (
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/pkg/db"
)

// Notify is a PostgreSQL NOTIFY a statement sends (at its commit).
type Notify struct{ Channel, Payload string }

// Statement is one SQL statement and its parameters.
type Statement struct {
	SQL  string
	Args []any
}

// outboxBatchPostgres writes the outbox of the events in the ev and m CTEs
// (see ExecWithEvents): insertEvent's matching, one row of m per event.
var outboxBatchPostgres = `outbox AS (
INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, round_started_at, created_at, updated_at)
SELECT (m.prefix || substr(md5(random()::text), 1, 12))::uuid, w.id, ev.id, m.type, 'pending', 0, m.at, m.at, m.at, m.at` +
	strings.Replace(fmt.Sprintf(outboxWhere, `m.type LIKE p.type_like ESCAPE '\'`, "m.node_path", "m.change_id"),
		"FROM webhooks w", "FROM ev JOIN m ON m.event_id = ev.id, webhooks w", 1) + `
RETURNING 1)`

// ExecWithEvents sends, in tx, the caller's data-modifying statements
// (each an UPDATE or INSERT), events
// built with NewEvent and their outbox rows, and the NOTIFYs, as ONE
// statement on PostgreSQL: data-modifying CTEs all run, on the statement's
// snapshot, and a round trip is most of a small statement's cost. A move
// of a change thus costs one statement whatever it wrote. On SQLite (no
// data-modifying CTEs) the statements run one by one, then RecordAll
// (SQLite has no NOTIFY: in-process signals stand for it).
func (s *Store) ExecWithEvents(tx *gorm.DB, stmts []Statement, events []*Event, notify []Notify) error {
	if db.DialectOf(tx) != db.Postgres {
		for _, st := range stmts {
			if err := tx.Exec(st.SQL, st.Args...).Error; err != nil {
				return err
			}
		}
		return s.RecordAll(tx, events, nil)
	}
	var ctes []string
	var args []any
	for i, st := range stmts {
		ctes = append(ctes, fmt.Sprintf("u%d AS (%s)", i, st.SQL))
		args = append(args, st.Args...)
	}
	var tail []string
	if len(events) > 0 {
		evs, ms := make([]string, len(events)), make([]string, len(events))
		evArgs := make([]any, 0, 10*len(events))
		mArgs := make([]any, 0, 6*len(events))
		for i, ev := range events {
			attrs, err := ev.Attributes.Value()
			if err != nil {
				return err
			}
			evs[i] = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			evArgs = append(evArgs, ev.ID, ev.Type, ev.Username, ev.System, ev.SourceType, ev.SourceID, ev.SourcePath,
				ev.NodeID, attrs, ev.CreatedAt)
			ms[i] = "(?::uuid, ?::text, ?::text, ?::text, ?::uuid, ?::timestamptz)"
			nodePath, changeID := eventNode(ev)
			mArgs = append(mArgs, ev.ID, ev.ID[:24], ev.Type, nodePath, changeID, ev.CreatedAt)
		}
		ctes = append(ctes, "ev AS (INSERT INTO events (id, type, username, system, source_type, source_id, source_link, node_id, attributes, created_at) VALUES "+
			strings.Join(evs, ", ")+" RETURNING id)",
			"m (event_id, prefix, type, node_path, change_id, at) AS (VALUES "+strings.Join(ms, ", ")+")",
			outboxBatchPostgres)
		args = append(append(args, evArgs...), mArgs...)
		// Its row, first, says deliveries were written.
		tail = append(tail, "SELECT pg_notify('"+OutboxChannel+"', '') FROM (SELECT 1 FROM outbox LIMIT 1) AS any_delivery")
	}
	for _, n := range notify {
		tail = append(tail, "SELECT pg_notify(?, ?)")
		args = append(args, n.Channel, n.Payload)
	}
	var sql string
	switch {
	case len(tail) > 0:
		sql = strings.Join(tail, " UNION ALL ")
	case len(stmts) == 0:
		return nil
	default:
		// The last statement is the main one.
		sql, ctes = stmts[len(stmts)-1].SQL, ctes[:len(ctes)-1]
	}
	if len(ctes) > 0 {
		sql = "WITH " + strings.Join(ctes, ", ") + " " + sql
	}
	res := tx.Exec(sql, args...)
	if res.Error != nil {
		return res.Error
	}
	if len(events) > 0 && res.RowsAffected > int64(len(notify)) && s.deliveries != nil {
		s.deliveries.Notify()
	}
	return nil
}
