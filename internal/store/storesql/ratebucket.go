package storesql

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hookd/hookd/internal/store"
)

// TakeRateTokens takes up to n whole tokens from the bucket key (rate per second, burst = rate) in one
// statement (concurrent processes serialize on the row) and returns how many it got; with none, it returns
// when the next token is due.
func (s *RateBuckets) TakeRateTokens(ctx context.Context, p store.TakeRateTokensParams) (int, time.Time, error) {
	key, rate, n, now := p.Key, p.Rate, p.N, p.Now
	if rate <= 0 {
		return n, now, nil
	}
	n = max(n, 1)
	least, greatest := "LEAST", "GREATEST"
	if !s.pg() {
		least, greatest = "MIN", "MAX"
	}
	r, micros := float64(rate), now.UnixMicro()
	avail := fmt.Sprintf(`%s(CAST(? AS DOUBLE PRECISION), rate_buckets.tokens + %s(0, CAST(? AS BIGINT) - rate_buckets.updated_micros) * CAST(? AS DOUBLE PRECISION) / 1000000.0)`, least, greatest)
	whole := func(x string) string { // whole tokens of a non-negative amount
		if s.pg() {
			return "FLOOR(" + x + ")"
		}
		return "CAST(" + x + " AS INTEGER)" // SQLite truncates, which floors x ≥ 0
	}
	q := s.rebind(fmt.Sprintf(`INSERT INTO rate_buckets (key, tokens, updated_micros, granted)
		VALUES (?, CAST(? AS DOUBLE PRECISION) - %[1]s(CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION)),
			CAST(? AS BIGINT), %[1]s(CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION)))
		ON CONFLICT (key) DO UPDATE SET
			granted = %[1]s(CAST(? AS DOUBLE PRECISION), %[3]s),
			tokens = %[2]s - %[1]s(CAST(? AS DOUBLE PRECISION), %[3]s),
			updated_micros = %[4]s(rate_buckets.updated_micros, CAST(? AS BIGINT))
		WHERE %[3]s >= 1
		RETURNING granted`, least, avail, whole(avail), greatest))
	fn := float64(n)
	args := []any{key, r, fn, r, micros, fn, r, // insert
		fn, r, micros, r, // granted
		r, micros, r, fn, r, micros, r, // tokens
		micros,       // updated_micros
		r, micros, r} // where
	var granted []float64
	if err := s.db.SelectContext(ctx, &granted, q, args...); err != nil {
		return 0, time.Time{}, wrap("take rate tokens", err)
	}
	if len(granted) > 0 && granted[0] >= 1 {
		return int(granted[0]), now, nil
	}
	var b struct {
		Tokens        float64 `db:"tokens"`
		UpdatedMicros int64   `db:"updated_micros"`
	}
	if err := s.db.GetContext(ctx, &b, s.rebind(`SELECT tokens, updated_micros FROM rate_buckets WHERE key = ?`), key); err != nil {
		return 0, time.Time{}, wrap("take rate tokens: read bucket", err)
	}
	have := math.Min(r, b.Tokens+float64(max(0, micros-b.UpdatedMicros))*r/1e6)
	wait := time.Duration(math.Ceil((1-have)/r*1e6)) * time.Microsecond
	return 0, now.Add(max(wait, time.Microsecond)), nil
}
