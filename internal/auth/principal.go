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
	// KeyID is the API key's id, or the portal session's.
	KeyID         string
	ProjectID     string
	Role          store.Role
	InstanceAdmin bool
	// Portal is the session of a portal token (nil for an API key): the caller is confined to its tenant.
	Portal *store.PortalSession
}

// IsAdmin reports whether the caller sees secrets and private header values: an ADMIN key, or a ROLE_MEMBER
// portal session, which owns its tenant's webhooks (and reaches nothing else: the handlers confine it).
func (p Principal) IsAdmin() bool {
	return p.Role == store.RoleAdmin || (p.Portal != nil && p.Role == store.RoleMember)
}

// TenantID is the tenant a portal caller is confined to ("" for an API key).
func (p Principal) TenantID() string {
	if p.Portal == nil {
		return ""
	}
	return p.Portal.TenantID
}

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
