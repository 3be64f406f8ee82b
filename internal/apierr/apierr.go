// Package apierr is where errors cross the API boundary. Handlers return Connect errors for what they decide
// themselves (Invalid, NotFound, PermissionDenied, FailedPrecondition) and plain, wrapped errors for the rest
// (About names the record a store error is about). The error boundary (NewInterceptor, and Map for plain HTTP
// handlers) maps those in one place: store.ErrNotFound → not_found, store.ErrAlreadyExists → already_exists,
// store.ErrConflict and store.ErrSecretUnreadable → failed_precondition, store.ErrStale → aborted (what is left
// after the handler's own retries), context errors → canceled / deadline_exceeded, and anything else is logged and
// returned as a generic internal error. No store or driver text (SQL, constraint names) reaches a client.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/hookd/hookd/internal/store"
)

// InternalMessage is the whole message of every internal error a client sees.
const InternalMessage = "internal error"

// Invalid returns invalid_argument with a message naming the field ("field: reason") and an
// errdetails.BadRequest detail holding the same field and reason, for clients that read details.
func Invalid(field, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	err := connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %s", field, reason))
	detail, derr := connect.NewErrorDetail(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: reason}},
	})
	if derr == nil { // marshalling a BadRequest does not fail; without the detail the message still names the field
		err.AddDetail(detail)
	}
	return err
}

// FieldViolations returns the fields and reasons of the errdetails.BadRequest details of err (nil when none).
func FieldViolations(err error) []*errdetails.BadRequest_FieldViolation {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return nil
	}
	var out []*errdetails.BadRequest_FieldViolation
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if br, ok := v.(*errdetails.BadRequest); ok {
				out = append(out, br.GetFieldViolations()...)
			}
		}
	}
	return out
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

// recordError is a store error about one record; the boundary's message names the record's kind and id.
type recordError struct {
	kind, id string
	err      error
}

func (e *recordError) Error() string {
	if e.id == "" {
		return fmt.Sprintf("%s: %v", e.kind, e.err)
	}
	return fmt.Sprintf("%s %q: %v", e.kind, e.id, e.err)
}

func (e *recordError) Unwrap() error { return e.err }

// About wraps err, an error of the store about the record kind with id (e.g. "webhook", "wh_…"), so that the
// boundary's message names the record: `webhook "wh_x" not found`. nil stays nil; Connect errors pass as
// they are.
func About(kind, id string, err error) error {
	if err == nil {
		return nil
	}
	return &recordError{kind: kind, id: id, err: err}
}

// Map converts err into the error a client sees (see the package comment); nil stays nil. Internal errors are
// logged on log (nil: slog.Default()).
func Map(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr
	}
	var rec *recordError
	named := errors.As(err, &rec)
	name := func() string {
		switch {
		case !named:
			return "record"
		case rec.id == "":
			return rec.kind
		}
		return fmt.Sprintf("%s %q", rec.kind, rec.id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		if named {
			return NotFound(rec.kind, rec.id)
		}
		return connect.NewError(connect.CodeNotFound, errors.New("not found"))
	case errors.Is(err, store.ErrAlreadyExists):
		return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("%s: already exists", name()))
	case errors.Is(err, store.ErrStale):
		return connect.NewError(connect.CodeAborted, fmt.Errorf("%s: changed by another request meanwhile; read it again and retry", name()))
	case errors.Is(err, store.ErrConflict):
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%s: conflict (in use, or in the wrong state for this change)", name()))
	case errors.Is(err, store.ErrSecretUnreadable):
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(ctx, "stored secret cannot be decrypted", "error", err)
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
			"%s: its stored secrets cannot be decrypted with this server's keys (the key that encrypted them is missing from the keyring)", name()))
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded)
	}
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, "internal error", "error", err)
	return connect.NewError(connect.CodeInternal, errors.New(InternalMessage))
}

// FromStore maps a store error about record kind/id at once: Map(ctx, log, About(kind, id, err)). Handlers
// behind the boundary return About(kind, id, err) (or a wrapped err) instead.
func FromStore(ctx context.Context, log *slog.Logger, kind, id string, err error) error {
	return Map(ctx, log, About(kind, id, err))
}

// NewInterceptor returns the error boundary of Connect handlers (unary and streaming): every error a handler
// (or an interceptor inside this one) returns goes through Map. Install it outermost. log receives internal
// errors (nil: slog.Default()).
func NewInterceptor(log *slog.Logger) connect.Interceptor {
	if log == nil {
		log = slog.Default()
	}
	return boundary{log: log}
}

type boundary struct{ log *slog.Logger }

// WrapUnary implements connect.Interceptor.
func (b boundary) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if err != nil && !req.Spec().IsClient {
			return nil, Map(ctx, b.log.With("procedure", req.Spec().Procedure), err)
		}
		return res, err
	}
}

// WrapStreamingClient implements connect.Interceptor; clients are not affected.
func (boundary) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (b boundary) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return Map(ctx, b.log.With("procedure", conn.Spec().Procedure), next(ctx, conn))
	}
}
