// Package auth authenticates API keys and authorizes RPCs by role (a Connect interceptor).
package auth

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/internal/store"
)

// Principal is the authenticated caller.
type Principal struct {
	KeyID         string
	ProjectID     string
	Role          store.Role
	InstanceAdmin bool
}

// IsAdmin reports whether the caller sees secrets and private header values.
func (p Principal) IsAdmin() bool { return p.Role == store.RoleAdmin }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller set by the interceptor.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Caller returns the authenticated principal of an RPC; the interceptor puts one in the context of every
// non-public procedure, so its absence means the handler is mounted without the interceptor.
func Caller(ctx context.Context) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("missing API key: send Authorization: Bearer <key>"))
	}
	return p, nil
}
