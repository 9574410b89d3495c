package run

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/model"

	"github.com/google/uuid"
	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	dbpkg "github.com/stewardhq/steward/pkg/db"
	"github.com/stewardhq/steward/pkg/jsonstr"
	"github.com/stewardhq/steward/pkg/listquery"
)

// LogLinesChannel is the PostgreSQL notification channel announcing new log
// lines; the payload is the change id.
const LogLinesChannel = "steward_log_lines"

// logLockClass is the first key of the advisory lock that serialises appends
// to one change (the second is a hash of the change id).
const logLockClass = 0x53544c47 // "STLG"

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

// appendSQLite inserts each run of lines of one step with one statement, in
// one (immediate) transaction. The messages and times go as one JSON array
// that json_each unrolls: the driver's binding cost grows with the square
// of a statement's parameters, so multi-row VALUES spent a quarter of the
// ingest binding them.
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
	var buf []byte
	for start := 0; start < len(lines); {
		first := &lines[start]
		buf = append(buf[:0], '[')
		end := start
		for ; end < len(lines) && len(buf) < sqliteJSONBytes; end++ {
			l := &lines[end]
			if l.ChangeID != first.ChangeID || l.StepID != first.StepID {
				break
			}
			if end > start {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			buf = jsonstr.Append(buf, l.Message)
			buf = append(buf, `,"`...)
			buf = l.LoggedAt.AppendFormat(buf, sqliteTimeFormat)
			buf = append(buf, `"]`...)
		}
		buf = append(buf, ']')
		// ORDER BY key: ids follow the lines' order, which followers rely on.
		if _, err := tx.ExecContext(ctx, "INSERT INTO log_lines (change_id, step_id, message, logged_at) "+
			"SELECT ?, ?, value->>0, value->>1 FROM json_each(?) ORDER BY key",
			first.ChangeID, first.StepID, string(buf)); err != nil {
			return err
		}
		start = end
	}
	return tx.Commit()
}

// sqliteTimeFormat is how the SQLite driver writes a time.Time (and parses
// it back): the lines' times are written the same way.
const sqliteTimeFormat = "2006-01-02 15:04:05.999999999-07:00"

// sqliteJSONBytes bounds one insert's JSON: a batch goes in a few statements.
const sqliteJSONBytes = 1 << 20

// cleanMessage makes any process output storable: PostgreSQL text holds
// neither invalid UTF-8 nor NUL.
func cleanMessage(m string) string {
	if utf8.ValidString(m) && strings.IndexByte(m, 0) < 0 {
		return m
	}
	return strings.ReplaceAll(strings.ToValidUTF8(m, "\uFFFD"), "\x00", "\uFFFD")
}

// logLinesQuery is the log line list, scoped to a change and/or a step when
// their ids are not empty. On PostgreSQL each scope also bounds id below by
// its first line's (one probe of its index): its generic plan for a prepared
// "change_id = $1 AND id > $2 ORDER BY id" walks the primary key, and would
// otherwise filter every older line of other changes first (seconds, for a
// log behind a few million lines). Not on SQLite: there the same bound
// turned the follower's reads into walks of the table, and a live follower
// of a million-line log fell 40 s behind.
func logLinesQuery(db *gorm.DB, changeID, stepID string) *gorm.DB {
	db = db.Model(&LogLine{})
	bound := dbpkg.DialectOf(db) == dbpkg.Postgres
	for _, scope := range []struct{ column, id string }{{"change_id", changeID}, {"step_id", stepID}} {
		switch {
		case scope.id == "":
		case bound:
			db = db.Where(scope.column+" = ? AND id >= (SELECT MIN(id) FROM log_lines WHERE "+scope.column+" = ?)", scope.id, scope.id)
		default:
			db = db.Where(scope.column+" = ?", scope.id)
		}
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
	return model.NewSource[LogLine](s.Store, "id", func(db *gorm.DB) *gorm.DB { return logLinesQuery(db, changeID, stepID) }).
		Scoped(s.readableLogLines)
}

// LogChangeStatus returns the status of the change whose log is read (404
// when there is none): followers stop once it is terminal.
func (s *Store) LogChangeStatus(ctx context.Context, changeID string) (string, error) {
	changeID, ok := steward.ParseID(changeID)
	if !ok {
		return "", steward.NotFound("change", changeID)
	}
	var rows []struct{ Status, Path string }
	err := s.Read(ctx, func(db *gorm.DB) error {
		return s.readableChanges(ctx, db.Table("changes")).Select("changes.status AS status, nodes.path AS path").
			Joins("JOIN nodes ON nodes.id = changes.node_id").Where("changes.id = ?", changeID).Limit(1).Scan(&rows).Error
	})
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", steward.NotFound("change", changeID)
	}
	if err := model.AuthoriseRead(ctx, rows[0].Path+"/log_lines", "change", changeID); err != nil {
		return "", err
	}
	return rows[0].Status, nil
}

// LogComplete reports change id's status and whether its log is complete:
// the change has ended and no worker still holds one of its steps (a
// cancelled step's worker stores its last lines before it lets go; a lease
// that lapsed counts as let go).
func (s *Store) LogComplete(ctx context.Context, changeID string) (status string, complete bool, err error) {
	id, ok := steward.ParseID(changeID)
	if !ok {
		return "", false, steward.NotFound("change", changeID)
	}
	// One statement: a follower asks this at every wake-up.
	var row []struct {
		Status string
		Held   bool
	}
	err = s.Read(ctx, func(db *gorm.DB) error {
		return db.Raw("SELECT status, EXISTS (SELECT 1 FROM steps WHERE steps.change_id = changes.id AND "+
			"lease_owner IS NOT NULL AND lease_expires_at > ?) AS held FROM changes WHERE id = ?", s.Now(), id).Scan(&row).Error
	})
	if err != nil {
		return "", false, err
	}
	if len(row) == 0 {
		return "", false, steward.NotFound("change", id)
	}
	return row[0].Status, Terminal(row[0].Status) && !row[0].Held, nil
}

// LogStepExists reports a 404 for a step that does not exist.
func (s *Store) LogStepExists(ctx context.Context, stepID string) error {
	stepID, ok := steward.ParseID(stepID)
	if !ok {
		return steward.NotFound("step", stepID)
	}
	var n int64
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return s.readableSteps(ctx, db.Model(&Step{})).Where("id = ?", stepID).Limit(1).Count(&n).Error
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

// LogRow is a log line as a stream reads it: the text columns as the driver
// returned them, valid only during the call that receives the row.
type LogRow struct {
	ID              int64
	StepID, Message []byte
	LoggedAt        time.Time
}

// EachLogMessage calls fn with every line of src that matches q's filters,
// above after, oldest first, reading only its id and message: what a
// download writes. The rows stream from a few queries, no record built per
// line.
func (s *Store) EachLogMessage(ctx context.Context, src model.Source[LogLine], q listquery.List, after int64, fn func(*LogRow) error) error {
	for {
		n, err := s.EachLogRow(ctx, src, q, after, logStreamRange, false, func(r *LogRow) error {
			after = r.ID
			return fn(r)
		})
		if err != nil || n < logStreamRange {
			return err
		}
	}
}

// EachLogRow streams up to limit lines of src matching q above after, oldest
// first, from one query: id, message, step and time when full, else id and
// message (a follower knows the change it follows). It returns how many it
// read.
func (s *Store) EachLogRow(ctx context.Context, src model.Source[LogLine], q listquery.List, after int64, limit int, full bool, fn func(*LogRow) error) (int, error) {
	if !s.postgres() {
		return s.eachLogRow(ctx, src, q, after, limit, full, fn)
	}
	// PostgreSQL estimates a change's lines from its statistics, which a
	// log just written is not in (a million lines of a change estimated
	// at a few thousand): it then plans a bitmap scan of every line above
	// after and a sort of them all, for each range of a download (2.8x
	// one streamed SELECT) and each page of a follower. Walking the
	// (change_id, id) index in order is right for every read here, so the
	// range reads in a short read-only transaction with sorting priced out.
	var n int
	err := s.Snapshot(ctx, func(view *Store) error {
		if err := view.DB.Exec("SET LOCAL enable_sort = off").Error; err != nil {
			return err
		}
		var err error
		n, err = s.eachLogRow(ctx, src.In(view.Store), q, after, limit, full, fn)
		return err
	})
	return n, err
}

func (s *Store) eachLogRow(ctx context.Context, src model.Source[LogLine], q listquery.List, after int64, limit int, full bool, fn func(*LogRow) error) (int, error) {
	columns := []string{"id", "message"}
	sqliteTime := full && !s.postgres()
	if full {
		// SQLite's driver would try several layouts on each time (a
		// follower reads a million); read it as text and parse it here.
		loggedAt := "logged_at"
		if sqliteTime {
			loggedAt = "CAST(logged_at AS TEXT) AS logged_at"
		}
		columns = append(columns, "step_id", loggedAt)
	}
	rows, err := src.AboveRows(ctx, q, after, limit, columns...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var r LogRow
	var rawTime sql.RawBytes
	dest := []any{&r.ID, (*sql.RawBytes)(&r.Message)}
	if full {
		dest = append(dest, (*sql.RawBytes)(&r.StepID), &r.LoggedAt)
		if sqliteTime {
			dest[3] = &rawTime
		}
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, model.TranslateError(err)
		}
		if sqliteTime {
			if r.LoggedAt, err = parseSQLiteTime(rawTime); err != nil {
				return n, err
			}
		}
		if err := fn(&r); err != nil {
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
