package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/internal/store"
)

// NewInterceptor returns the Connect interceptor (unary and streaming handlers) that authenticates the
// `Authorization: Bearer <key>` header, puts the caller's Principal in the context and enforces policy.
// Missing, unknown and revoked keys get unauthenticated; a role that is not enough gets permission_denied.
// Every call reads its key from st; an Authenticator's Interceptor remembers keys briefly.
func NewInterceptor(st store.Store, policy Policy) connect.Interceptor {
	return (&Authenticator{st: st}).Interceptor(policy)
}

// Interceptor is NewInterceptor authenticating with a.
func (a *Authenticator) Interceptor(policy Policy) connect.Interceptor {
	if policy == nil {
		policy = DefaultPolicy()
	}
	return &interceptor{authn: a, policy: policy}
}

type interceptor struct {
	authn  *Authenticator
	policy Policy
}

// WrapUnary implements connect.Interceptor.
func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.authorize(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor; clients are not affected.
func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authorize(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

func (i *interceptor) authorize(ctx context.Context, procedure string, h http.Header) (context.Context, error) {
	if i.policy.Require(procedure) == Public {
		return ctx, nil
	}
	secret, ok := BearerToken(h.Get("Authorization"))
	if !ok {
		return ctx, connect.NewError(connect.CodeUnauthenticated, errors.New("missing API key: send Authorization: Bearer <key>"))
	}
	k, err := i.authn.Authenticate(ctx, secret)
	switch {
	case errors.Is(err, ErrUnknownKey), errors.Is(err, ErrRevokedKey):
		return ctx, connect.NewError(connect.CodeUnauthenticated, err)
	case errors.Is(err, context.Canceled):
		return ctx, connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return ctx, connect.NewError(connect.CodeDeadlineExceeded, err)
	case err != nil:
		slog.ErrorContext(ctx, "authenticate api key", "procedure", procedure, "error", err)
		return ctx, connect.NewError(connect.CodeUnavailable, errors.New("cannot check the API key now"))
	}
	p := Principal{KeyID: k.ID, ProjectID: k.ProjectID, Role: k.Role, InstanceAdmin: k.InstanceAdmin}
	if err := i.policy.Authorize(p, procedure); err != nil {
		return ctx, err
	}
	return WithPrincipal(ctx, p), nil
}

// BearerToken extracts the token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
func BearerToken(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
