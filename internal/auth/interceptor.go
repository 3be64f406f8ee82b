package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

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

// WrapStreamingHandler implements connect.Interceptor. A stream outlives its authentication, so every message
// it sends is guarded (see Guard): once the key is revoked (read again every RecheckInterval) or the stream has
// run for MaxLifetime, the handler's context is cancelled and the stream ends with the guard's error
// (unauthenticated, or unavailable for the lifetime) whatever the handler returns.
func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		procedure := conn.Spec().Procedure
		ctx, err := i.authorize(ctx, procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		if i.policy.Require(procedure) == Public {
			return next(ctx, conn)
		}
		secret, _ := BearerToken(conn.RequestHeader().Get("Authorization"))
		p, _ := FromContext(ctx)
		var guard *Guard
		if p.Portal != nil {
			guard = i.authn.Guard(secret) // the session: revoked or expired ends the stream
		} else {
			guard = NewGuard(i.authn.clk, i.authn.Streams, func(ctx context.Context) error { // the key, and its role
				k, err := i.authn.Authenticate(ctx, secret)
				if err := keyError(ctx, procedure, err); err != nil {
					return err
				}
				p.Role, p.InstanceAdmin = k.Role, k.InstanceAdmin
				return i.policy.Authorize(p, procedure)
			})
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if p.Portal != nil {
			// A portal stream may be quiet for a heartbeat's interval: its session is read again every
			// PortalRecheckInterval whether or not it sends, so that it ends soon after a revocation or expiry.
			go watchSession(ctx, guard, cancel)
		}
		err = next(ctx, &guardedConn{StreamingHandlerConn: conn, ctx: ctx, guard: guard, cancel: cancel})
		if gerr := guard.Err(); gerr != nil {
			return gerr
		}
		return err
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
	if IsPortalToken(secret) {
		s, err := i.authn.AuthenticatePortal(ctx, secret)
		if err := sessionError(ctx, procedure, err); err != nil {
			return ctx, err
		}
		p := PortalPrincipal(s)
		if err := i.policy.Authorize(p, procedure); err != nil {
			return ctx, err
		}
		return WithPrincipal(ctx, p), nil
	}
	k, err := i.authn.Authenticate(ctx, secret)
	if err := keyError(ctx, procedure, err); err != nil {
		return ctx, err
	}
	p := Principal{KeyID: k.ID, ProjectID: k.ProjectID, Role: k.Role, InstanceAdmin: k.InstanceAdmin}
	if err := i.policy.Authorize(p, procedure); err != nil {
		return ctx, err
	}
	return WithPrincipal(ctx, p), nil
}

// watchSession checks a portal stream's guard every PortalRecheckInterval and cancels the stream once it fails.
func watchSession(ctx context.Context, guard *Guard, cancel context.CancelFunc) {
	t := time.NewTicker(PortalRecheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if guard.CheckNow(ctx) != nil {
				cancel()
				return
			}
		}
	}
}

// keyError maps an error of Authenticate to a Connect error (nil stays nil).
func keyError(ctx context.Context, procedure string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownKey), errors.Is(err, ErrRevokedKey):
		return connect.NewError(connect.CodeUnauthenticated, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	default:
		slog.ErrorContext(ctx, "authenticate api key", "procedure", procedure, "error", err)
		return connect.NewError(connect.CodeUnavailable, errors.New("cannot check the API key now"))
	}
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
