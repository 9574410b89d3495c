package run

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"

	steward "github.com/stewardhq/steward"
)

// logCopier is the PostgreSQL connection log lines are COPYed on: one of its
// own, opened on first use from the URL the store was opened with, so a flood
// of lines neither waits for nor holds one of the pool's connections. One
// batch uses it at a time; a batch that finds it busy (another step's) takes
// a pooled connection instead of waiting.
type logCopier struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

// copyConn returns the store's COPY connection locked, or nil when it is
// busy or cannot be had (the caller then uses the pool). Unlock with
// releaseCopyConn.
func (s *Store) copyConn(ctx context.Context) *pgx.Conn {
	c := &s.Logs.copier
	if !c.mu.TryLock() {
		return nil
	}
	if c.conn != nil && !c.conn.IsClosed() {
		return c.conn
	}
	c.conn = nil
	d, ok := s.DB.Dialector.(*postgres.Dialector)
	if !ok || d.Config == nil || d.DSN == "" {
		c.mu.Unlock()
		return nil
	}
	conn, err := pgx.Connect(ctx, d.DSN)
	if err != nil {
		c.mu.Unlock()
		return nil
	}
	c.conn = conn
	return conn
}

// releaseCopyConn unlocks the COPY connection, dropping it after a failure
// (its session may be in any state; the next batch opens another).
func (s *Store) releaseCopyConn(failed bool) {
	c := &s.Logs.copier
	if failed && c.conn != nil {
		_ = c.conn.Close(context.Background())
		c.conn = nil
	}
	c.mu.Unlock()
}

// appendPostgres COPYs the rows in one transaction, on the store's own COPY
// connection or else a pooled one: a commit per batch rather than per row is
// what makes it fast (DESIGN §8).
func (s *Store) appendPostgres(ctx context.Context, lines []LogLine, changes []string) error {
	if conn := s.copyConn(ctx); conn != nil {
		err := copyLogLines(ctx, conn, lines, changes)
		s.releaseCopyConn(err != nil)
		return err
	}
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
		return copyLogLines(ctx, sc.Conn(), lines, changes)
	})
}

// copyLogLines is one transaction in three round trips: BEGIN with the
// advisory locks, the COPY, then the notifications with COMMIT (delivered at
// commit, so a woken follower finds the rows). The change ids, checked as
// UUIDs by AppendLogLines, go as literals so each step is one simple query.
func copyLogLines(ctx context.Context, conn *pgx.Conn, lines []LogLine, changes []string) (err error) {
	lits := make([]string, len(changes))
	for i, c := range changes {
		lits[i] = quoteLiteral(c)
	}
	list := strings.Join(lits, ",")
	begin := fmt.Sprintf("BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext(c)) FROM unnest(ARRAY[%s]::text[]) AS c ORDER BY c",
		logLockClass, list)
	if _, err := conn.PgConn().Exec(ctx, begin).ReadAll(); err != nil {
		return rollback(conn, err)
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
	row := make([]any, 4)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"log_lines"}, logColumns, pgx.CopyFromSlice(len(lines), func(i int) ([]any, error) {
		l := &lines[i]
		change, err := uuidOf(l.ChangeID)
		if err != nil {
			return nil, err
		}
		step, err := uuidOf(l.StepID)
		row[0], row[1], row[2], row[3] = change, step, l.Message, l.LoggedAt
		return row, err
	}))
	if err != nil {
		return rollback(conn, err)
	}
	end := fmt.Sprintf("SELECT pg_notify('%s', c) FROM unnest(ARRAY[%s]::text[]) AS c; COMMIT", LogLinesChannel, list)
	if _, err := conn.PgConn().Exec(ctx, end).ReadAll(); err != nil {
		return rollback(conn, err)
	}
	return nil
}

// rollback ends a failed batch's transaction and returns err.
func rollback(conn *pgx.Conn, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.PgConn().Exec(ctx, "ROLLBACK").ReadAll()
	return err
}

// quoteLiteral is s as an SQL string literal (standard_conforming_strings).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
