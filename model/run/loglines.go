package run

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/stewardhq/steward/model"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// LogLinesChannel is the PostgreSQL notification channel announcing new log
// lines; the payload is the change id.
const LogLinesChannel = "steward_log_lines"

// logLockClass is the first key of the advisory lock that serialises appends
// to one change (the second is a hash of the change id).
const logLockClass = 0x53544c47 // "STLG"

// sqliteRowsPerInsert rows go in one INSERT: enough to spread the statement
// cost, few enough parameters for the driver, whose binding time grows with
// the square of their number (measured best around 100).
const sqliteRowsPerInsert = 100

// AppendLogLines stores lines in one transaction, then wakes the followers of
// every change they belong to: one notification per change per call. It
// cleans messages and stamps zero LoggedAt in place.
//
// Followers read "lines after the last id I sent", which is only gap-free if
// ids of one change become visible in id order. SQLite has one writer at a
// time; on PostgreSQL an advisory lock per change makes concurrent appends to
// the same change (parallel steps, other replicas) commit one after another.
func (s *Store) AppendLogLines(ctx context.Context, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	changes := make([]string, 0, 1)
	for i := range lines {
		l := &lines[i]
		if !slices.Contains(changes, l.ChangeID) {
			if _, err := uuid.Parse(l.ChangeID); err != nil {
				return steward.Errorf(steward.KindInternal, "log line with change id %q", l.ChangeID)
			}
			changes = append(changes, l.ChangeID)
		}
		l.Message = cleanMessage(l.Message)
		if l.LoggedAt.IsZero() {
			l.LoggedAt = s.Now()
		}
	}
	slices.Sort(changes) // lock order: no deadlock between multi-change batches
	var err error
	if s.postgres() {
		err = s.appendPostgres(ctx, lines, changes)
	} else {
		err = s.appendSQLite(ctx, lines)
	}
	if err != nil {
		return model.TranslateError(err)
	}
	for _, c := range changes {
		s.Logs.Publish(c)
	}
	return nil
}

// appendLogLineTx writes one line inside tx, ordered with the batches as
// AppendLogLines orders them; its followers learn of it when tx commits
// (PostgreSQL) or when the caller publishes it (in process).
func (s *Store) appendLogLineTx(tx *gorm.DB, l LogLine) error {
	l.Message = cleanMessage(l.Message)
	if s.postgres() {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(?))", logLockClass, l.ChangeID).Error; err != nil {
			return err
		}
	}
	if err := tx.Create(&l).Error; err != nil {
		return err
	}
	if s.postgres() {
		return tx.Exec("SELECT pg_notify(?, ?)", LogLinesChannel, l.ChangeID).Error
	}
	return nil
}

// postgres reports whether the store runs on PostgreSQL (else SQLite).
func (s *Store) postgres() bool { return s.DB.Dialector.Name() == "postgres" }

var logColumns = []string{"change_id", "step_id", "message", "logged_at"}

// appendPostgres COPYs the rows on one of GORM's own pooled connections: a
// commit per batch rather than per row is what makes it fast (DESIGN §8).
func (s *Store) appendPostgres(ctx context.Context, lines []LogLine, changes []string) error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("log lines: unexpected driver connection %T", dc)
		}
		tx, err := sc.Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(c)) FROM unnest($2::text[]) AS c ORDER BY c",
			logLockClass, changes); err != nil {
			return err
		}
		// Ids go as binary UUIDs: pgx would try, fail (an error built per
		// value) and reparse strings, a third of the cost of a big COPY.
		ids := map[string]pgtype.UUID{}
		uuidOf := func(id string) (pgtype.UUID, error) {
			if v, ok := ids[id]; ok {
				return v, nil
			}
			u, err := uuid.Parse(id)
			if err != nil {
				return pgtype.UUID{}, steward.Errorf(steward.KindInternal, "log line with id %q", id)
			}
			v := pgtype.UUID{Bytes: u, Valid: true}
			ids[id] = v
			return v, nil
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"log_lines"}, logColumns, pgx.CopyFromSlice(len(lines), func(i int) ([]any, error) {
			l := &lines[i]
			change, err := uuidOf(l.ChangeID)
			if err != nil {
				return nil, err
			}
			step, err := uuidOf(l.StepID)
			return []any{change, step, l.Message, l.LoggedAt}, err
		}))
		if err != nil {
			return err
		}
		// Delivered at commit, so a woken follower finds the rows.
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, c) FROM unnest($2::text[]) AS c", LogLinesChannel, changes); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// appendSQLite inserts multi-row statements in one (immediate) transaction.
func (s *Store) appendSQLite(ctx context.Context, lines []LogLine) error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var full *sql.Stmt
	if len(lines) >= sqliteRowsPerInsert {
		if full, err = tx.PrepareContext(ctx, insertSQL(sqliteRowsPerInsert)); err != nil {
			return err
		}
		defer full.Close()
	}
	args := make([]any, 0, 4*min(len(lines), sqliteRowsPerInsert))
	for start := 0; start < len(lines); start += sqliteRowsPerInsert {
		chunk := lines[start:min(start+sqliteRowsPerInsert, len(lines))]
		args = args[:0]
		for i := range chunk {
			args = append(args, chunk[i].ChangeID, chunk[i].StepID, chunk[i].Message, chunk[i].LoggedAt)
		}
		if len(chunk) == sqliteRowsPerInsert {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertSQL(len(chunk)), args...)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

func insertSQL(rows int) string {
	var b strings.Builder
	b.Grow(64 + rows*10)
	b.WriteString("INSERT INTO log_lines (change_id, step_id, message, logged_at) VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
	}
	return b.String()
}

// cleanMessage makes any process output storable: PostgreSQL text holds
// neither invalid UTF-8 nor NUL.
func cleanMessage(m string) string {
	if utf8.ValidString(m) && strings.IndexByte(m, 0) < 0 {
		return m
	}
	return strings.ReplaceAll(strings.ToValidUTF8(m, "\uFFFD"), "\x00", "\uFFFD")
}

// logLinesQuery is the log line list, scoped to a change and/or a step when
// their ids are not empty.
func logLinesQuery(db *gorm.DB, changeID, stepID string) *gorm.DB {
	db = db.Model(&LogLine{})
	if changeID != "" {
		db = db.Where("change_id = ?", changeID)
	}
	if stepID != "" {
		db = db.Where("step_id = ?", stepID)
	}
	return db
}

// LogLineFilters are the attributes a log line list may filter and sort by (attribute -> column).
var LogLineFilters = map[string]listquery.Field{
	"id":        {Column: "id", Kind: listquery.Int},
	"change_id": {Column: "change_id", Kind: listquery.UUID},
	"step_id":   {Column: "step_id", Kind: listquery.UUID},
	"message":   {Column: "message"},
	"logged_at": {Column: "logged_at", Kind: listquery.Time},
}

// LogLineList is logLinesQuery as a list source.
func (s *Store) LogLineList(changeID, stepID string) model.Source[LogLine] {
	return model.NewSource[LogLine](s.Store, "id", func(db *gorm.DB) *gorm.DB { return logLinesQuery(db, changeID, stepID) })
}

// LogChangeStatus returns the status of the change whose log is read (404
// when there is none): followers stop once it is terminal.
func (s *Store) LogChangeStatus(ctx context.Context, changeID string) (string, error) {
	changeID, ok := steward.ParseID(changeID)
	if !ok {
		return "", steward.NotFound("change", changeID)
	}
	var status []string
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Change{}).Where("id = ?", changeID).Limit(1).Pluck("status", &status).Error
	})
	if err != nil {
		return "", err
	}
	if len(status) == 0 {
		return "", steward.NotFound("change", changeID)
	}
	return status[0], nil
}

// LogComplete reports change id's status and whether its log is complete:
// the change has ended and no worker still holds one of its steps (a
// cancelled step's worker stores its last lines before it lets go; a lease
// that lapsed counts as let go).
func (s *Store) LogComplete(ctx context.Context, changeID string) (status string, complete bool, err error) {
	if status, err = s.LogChangeStatus(ctx, changeID); err != nil || !Terminal(status) {
		return status, false, err
	}
	var held int64
	err = s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Where("change_id = ? AND lease_owner IS NOT NULL AND lease_expires_at > ?", strings.ToLower(changeID), s.Now()).
			Limit(1).Count(&held).Error
	})
	return status, held == 0, err
}

// LogStepExists reports a 404 for a step that does not exist.
func (s *Store) LogStepExists(ctx context.Context, stepID string) error {
	stepID, ok := steward.ParseID(stepID)
	if !ok {
		return steward.NotFound("step", stepID)
	}
	var n int64
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Where("id = ?", stepID).Limit(1).Count(&n).Error
	}); err != nil {
		return err
	}
	if n == 0 {
		return steward.NotFound("step", stepID)
	}
	return nil
}

// LogLinesAfter reads up to limit lines of src matching q's filters with ids
// above after, oldest first: the follower's and the download's walk, an
// index range scan at any depth.
func LogLinesAfter(ctx context.Context, src model.Source[LogLine], q listquery.List, after int64, limit int) ([]LogLine, error) {
	return src.Above(ctx, q, after, limit)
}

// logStreamRange is how many lines one streamed query of a download reads:
// few queries for a long log, while no single one holds a snapshot (and
// its connection, while a slow client reads) for long.
const logStreamRange = 100_000

// EachLogMessage calls fn with the id and message of every line of src that
// matches q's filters, above after, oldest first: what a download writes.
// The rows stream from a few queries of the two columns, no record built per
// line; msg is valid only during the call.
func EachLogMessage(ctx context.Context, src model.Source[LogLine], q listquery.List, after int64, fn func(id int64, msg []byte) error) error {
	for {
		n, err := eachLogRange(ctx, src, q, &after, fn)
		if err != nil || n < logStreamRange {
			return err
		}
	}
}

func eachLogRange(ctx context.Context, src model.Source[LogLine], q listquery.List, after *int64, fn func(int64, []byte) error) (int, error) {
	rows, err := src.AboveRows(ctx, q, *after, logStreamRange, "id", "message")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var msg sql.RawBytes
		if err := rows.Scan(after, &msg); err != nil {
			return n, model.TranslateError(err)
		}
		if err := fn(*after, msg); err != nil {
			return n, err
		}
		n++
	}
	return n, model.TranslateError(rows.Err())
}

// NotifyLogFollowers wakes the followers of a change without new lines: the
// engine calls it when a change ends, so live streams close at once instead
// of at their next poll.
func (s *Store) NotifyLogFollowers(ctx context.Context, changeID string) error {
	if s.postgres() {
		if err := s.DB.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", LogLinesChannel, changeID).Error; err != nil &&
			!errors.Is(err, context.Canceled) {
			return model.TranslateError(err)
		}
	}
	s.Logs.Publish(changeID)
	return nil
}
