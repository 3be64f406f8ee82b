// Package apierr is where errors cross the API boundary: store errors become Connect codes,
// anything unexpected is logged and returned as a generic internal error.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/server/store"
)

// Invalid returns invalid_argument with a message naming the field.
func Invalid(field, format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// NotFound returns not_found for a record kind and id.
func NotFound(kind, id string) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("%s %q not found", kind, id))
}

// PermissionDenied returns permission_denied with a reason.
func PermissionDenied(msg string) error {
	return connect.NewError(connect.CodePermissionDenied, errors.New(msg))
}

// FailedPrecondition returns failed_precondition with a reason.
func FailedPrecondition(format string, args ...any) error {
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(format, args...))
}

// FromStore maps a store error about record kind/id to a Connect error. Unexpected errors are logged and hidden.
func FromStore(ctx context.Context, log *slog.Logger, kind, id string, err error) error {
	var cerr *connect.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cerr):
		return cerr
	case errors.Is(err, store.ErrNotFound):
		return NotFound(kind, id)
	case errors.Is(err, store.ErrAlreadyExists):
		return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("%s: %w", kind, err))
	case errors.Is(err, store.ErrConflict):
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%s %q: %w", kind, id, err))
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	default:
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(ctx, "internal error", "kind", kind, "id", id, "error", err)
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
}
