package api

import (
	"context"
	"errors"

	"github.com/hookd/hookd/internal/store"
)

// maxUpdateTries bounds how often an Update RPC reads its record again and reapplies its change when the record
// changed between its read and its write (store.ErrStale).
const maxUpdateTries = 5

// updateFresh runs attempt, one read-modify-write of a record (read, apply the request, validate, write over
// the version read), until it does not meet store.ErrStale: a concurrent change of the record (another Update,
// RotateWebhookSecret) is never overwritten, the request is applied to the record as it is now. After
// maxUpdateTries stale writes the error stays store.ErrStale (aborted: try again).
func updateFresh(ctx context.Context, attempt func() error) error {
	for i := 1; ; i++ {
		err := attempt()
		if !errors.Is(err, store.ErrStale) || i == maxUpdateTries {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// updated is updateFresh for an attempt that returns the record it wrote.
func updated[T any](ctx context.Context, attempt func() (T, error)) (T, error) {
	var v T
	err := updateFresh(ctx, func() (err error) {
		v, err = attempt()
		return err
	})
	return v, err
}
