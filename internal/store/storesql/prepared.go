package storesql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// hotStatements are the statements of every publish, trigger and sender batch. On PostgreSQL they are prepared
// once per connection, so that the server neither parses nor plans them again: with batches of a few rows,
// parsing and planning cost more server time than the inserts themselves. Their text does not depend on the
// number of rows (arrays carry the rows).
func hotStatements() []string {
	return []string{
		insertEvents.pgText, insertDeliveries.pgText, insertQueue.pgText, insertKeys.pgText, insertExecutions.pgText,
		insertAttempts.pgText, findTriggersPG, matchSubscriptionsPG, findWebhooksPG, completePostgres, booksPostgres,
		releaseHeldPG, publishAtOncePG, findWebhooksFP, matchSubscriptionsFP, publishToWebhooksPG, publishSubscribedPG,
	}
}

// queueStatements are the statements prepared on the async pool: the claim, and every hot statement, which the
// completions' transactions (with their books and operational events) run there. The claim's plan (CTEs over the
// queue and the day partitions) costs more to make than to run, so PostgreSQL makes it once per connection; it
// does not depend on the size of the queue (index scans driven by the arguments), so a plan made while the queue
// was small stays right when it is large.
func queueStatements() []string { return append([]string{claimPostgres}, hotStatements()...) }

// prepareHot prepares the hot statements on the pool (PostgreSQL only); database/sql prepares each again on
// every other connection the first time a transaction there uses it.
func (s *conn) prepareHot(ctx context.Context) error {
	if !s.pg() {
		return nil
	}
	s.prepared, s.preparedAsync = make(map[string]*sqlx.Stmt), make(map[string]*sqlx.Stmt)
	for _, q := range hotStatements() {
		st, err := s.db.PreparexContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %.40q…: %w", q, err)
		}
		s.prepared[q] = st
	}
	for _, q := range queueStatements() {
		st, err := s.async.PreparexContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %.40q…: %w", q, err)
		}
		s.preparedAsync[q] = st
	}
	return nil
}

// closePrepared closes the prepared statements.
func (s *conn) closePrepared() {
	for _, st := range s.prepared {
		_ = st.Close()
	}
	for _, st := range s.preparedAsync {
		_ = st.Close()
	}
	s.sqliteMu.Lock()
	s.sqliteClosed = true
	for _, st := range s.sqliteStmts {
		if st != nil { // nil: being prepared (prepareSQLite then closes it)
			_ = st.Close()
		}
	}
	s.sqliteStmts = nil
	s.sqliteMu.Unlock()
	s.sqlitePrepares.Wait()
}

// noCancel is ctx without its cancellation, for the statements every delivery runs (the one-statement publish, the
// completions): with a context that can end, database/sql and lib/pq start a goroutine per transaction, per
// statement and per result set to watch it, and on a machine idling between events each such goroutine costs a
// thread wake-up — more CPU than the statement. These statements take milliseconds; a caller that gives up does
// not cut them short (its publish is stored, or its outcomes written, as a crash right after would leave them),
// and a database that stops answering fails them when the connection does.
func noCancel(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// txExec runs q in tx, as a prepared statement when q is a hot statement (PostgreSQL) or on SQLite.
func (s *conn) txExec(ctx context.Context, tx *sqlx.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.stmtIn(ctx, tx, q); st != nil {
		return tx.StmtxContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// txSelect scans the rows of q in tx into dest, as txExec runs statements; with tx nil, outside a transaction.
func (s *conn) txSelect(ctx context.Context, tx *sqlx.Tx, dest any, q string, args ...any) error {
	if tx == nil {
		if st := s.stmt(ctx, q); st != nil {
			return st.SelectContext(ctx, dest, args...)
		}
		return s.db.SelectContext(ctx, dest, q, args...)
	}
	if st := s.stmtIn(ctx, tx, q); st != nil {
		return tx.StmtxContext(ctx, st).SelectContext(ctx, dest, args...)
	}
	return tx.SelectContext(ctx, dest, q, args...)
}

// txGet scans the one row of q in tx into dest, as txExec runs statements.
func (s *conn) txGet(ctx context.Context, tx *sqlx.Tx, dest any, q string, args ...any) error {
	if st := s.stmtIn(ctx, tx, q); st != nil {
		return tx.StmtxContext(ctx, st).GetContext(ctx, dest, args...)
	}
	return tx.GetContext(ctx, dest, q, args...)
}

// stmtIn is stmt for a statement run in tx: on PostgreSQL the one prepared on tx's pool.
func (s *conn) stmtIn(ctx context.Context, tx *sqlx.Tx, q string) *sqlx.Stmt {
	if s.pg() {
		if _, async := s.asyncTxs.Load(tx); async {
			return s.preparedAsync[q]
		}
	}
	return s.stmt(ctx, q)
}

// maxSQLiteStatements bounds the SQLite statement cache (statement texts vary with the rows of a batch).
const maxSQLiteStatements = 256

// stmt returns the prepared statement of q, or nil to run it unprepared. On PostgreSQL only the hot statements
// are prepared (others are planned for their arguments); on SQLite, whose parser costs more than most of its
// statements' runs (a sixth of the sender's CPU), every statement of the hot paths is prepared after its first use
// and kept, up to maxSQLiteStatements.
func (s *conn) stmt(ctx context.Context, q string) *sqlx.Stmt {
	if s.pg() {
		return s.prepared[q]
	}
	s.sqliteMu.Lock()
	defer s.sqliteMu.Unlock()
	if st, ok := s.sqliteStmts[q]; ok {
		return st // nil while it is being prepared
	}
	if len(s.sqliteStmts) >= maxSQLiteStatements || s.sqliteClosed {
		return nil
	}
	if s.sqliteStmts == nil {
		s.sqliteStmts = map[string]*sqlx.Stmt{}
	}
	s.sqliteStmts[q] = nil
	s.sqlitePrepares.Go(func() { s.prepareSQLite(context.WithoutCancel(ctx), q) })
	return nil
}

// prepareSQLite prepares q on the pool for its next uses. It runs apart from the transaction that first ran q:
// that transaction holds SQLite's write lock while other writers hold the pool's connections waiting for it, so
// preparing there would wait for a connection that frees only once the lock does (until busy_timeout).
func (s *conn) prepareSQLite(ctx context.Context, q string) {
	st, err := s.db.PreparexContext(ctx, q)
	s.sqliteMu.Lock()
	defer s.sqliteMu.Unlock()
	if _, pending := s.sqliteStmts[q]; !pending || err != nil { // closed meanwhile, or run unprepared for good
		if st != nil {
			_ = st.Close()
		}
		return
	}
	s.sqliteStmts[q] = st
}
