package storesql

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/store"
)

// RateWindow is the span of a rate limit: at most `rate` admissions of a key in any rolling RateWindow.
const RateWindow = time.Second

const (
	// lockRateWindow creates or locks the key's row (concurrent processes serialize on it) and reads it.
	lockRateWindow = `INSERT INTO rate_windows (key, next_seq, last_micros) VALUES (?, 0, 0)
		ON CONFLICT (key) DO UPDATE SET next_seq = rate_windows.next_seq
		RETURNING next_seq, last_micros`
	// windowEntries are the admissions the next ones would follow `rate` places after.
	windowEntries = `SELECT seq, at_micros FROM rate_window_log WHERE key = ? AND seq >= ? AND seq < ? ORDER BY seq`
)

// TakeRate takes up to n admissions of key (at most rate in any rolling second: a sliding-window log shared by
// every process) at now and returns how many it got; with none, it returns when the next one can be had (when
// the admission rate places back leaves the window). The admissions are logged at now + hold: a taker that
// spends them later than now (up to hold) passes that time so that the window holds from when they are spent.
// Admission k may be granted when admission k-rate was logged a second or more before now, so the times of the
// log never decrease (a process whose clock is behind logs the last time instead of its own).
func (s *RateWindows) TakeRate(ctx context.Context, p store.TakeRateParams) (int, time.Time, error) {
	key, rate, n, now, hold := p.Key, p.Rate, p.N, p.Now, p.Hold
	if rate <= 0 {
		return n, now, nil
	}
	n = min(max(n, 1), rate)
	nowMicros, windowMicros := now.UnixMicro(), RateWindow.Microseconds()
	var granted int
	var next time.Time
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var w struct {
			NextSeq    int64 `db:"next_seq"`
			LastMicros int64 `db:"last_micros"`
		}
		if err := tx.GetContext(ctx, &w, s.rebind(lockRateWindow), key); err != nil {
			return wrap("take rate: lock window", err)
		}
		first := w.NextSeq - int64(rate) // the admission the next one follows by rate places
		var log []struct {
			Seq      int64 `db:"seq"`
			AtMicros int64 `db:"at_micros"`
		}
		if err := tx.SelectContext(ctx, &log, s.rebind(windowEntries), key, first, first+int64(n)); err != nil {
			return wrap("take rate: read window", err)
		}
		at := map[int64]int64{}
		for _, e := range log {
			at[e.Seq] = e.AtMicros
		}
		for granted < n {
			t, ok := at[first+int64(granted)]
			if ok && t > nowMicros-windowMicros {
				if granted == 0 {
					next = time.UnixMicro(t + windowMicros).In(now.Location())
				}
				break
			}
			granted++
		}
		if granted == 0 {
			return nil
		}
		logged := max(nowMicros+hold.Microseconds(), w.LastMicros)
		rows := make([][]any, granted)
		for i := range rows {
			rows[i] = []any{key, w.NextSeq + int64(i), logged}
		}
		q, args := valuesQuery(`INSERT INTO rate_window_log (key, seq, at_micros) VALUES `, rows, "")
		if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
			return wrap("take rate: log", err)
		}
		end := w.NextSeq + int64(granted)
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE rate_windows SET next_seq = ?, last_micros = ? WHERE key = ?`),
			end, logged, key); err != nil {
			return wrap("take rate: advance window", err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM rate_window_log WHERE key = ? AND seq < ?`), key, end-int64(rate)); err != nil {
			return wrap("take rate: trim window", err)
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	if granted == 0 {
		return 0, next, nil
	}
	return granted, now, nil
}
