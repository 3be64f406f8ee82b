package auth

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/store"
)

// PortalOriginsTTL is how long PortalOrigins remembers the allowed origins of the live sessions (for
// preflights): a new session's origin is allowed within it.
const PortalOriginsTTL = time.Second

// OriginLister lists the allowed origins of the live portal sessions.
type OriginLister interface {
	// PortalOrigins returns the distinct allowed origins of the sessions live at now.
	PortalOrigins(ctx context.Context, now time.Time) ([]string, error)
}

// PortalOrigins decides CORS for portal tokens (router.PortalOrigins): preflights from the origins of live
// sessions, requests whose token's session lists their origin.
type PortalOrigins struct {
	authn   *Authenticator
	lister  OriginLister
	origins *cache.TTL[struct{}, []string]
}

// NewPortalOrigins returns the CORS decider of authn's portal sessions, listing origins with lister.
func NewPortalOrigins(authn *Authenticator, lister OriginLister) *PortalOrigins {
	return &PortalOrigins{authn: authn, lister: lister, origins: cache.New[struct{}, []string](PortalOriginsTTL, 1, authn.clk)}
}

// PreflightAllowed implements router.PortalOrigins.
func (p *PortalOrigins) PreflightAllowed(ctx context.Context, origin string) bool {
	list, err := p.origins.Get(ctx, struct{}{}, func(ctx context.Context) ([]string, error) {
		return p.lister.PortalOrigins(ctx, p.authn.now())
	})
	if err != nil {
		slog.WarnContext(ctx, "list portal origins", "error", err)
		return false
	}
	return slices.Contains(list, origin)
}

// RequestAllowed implements router.PortalOrigins.
func (p *PortalOrigins) RequestAllowed(ctx context.Context, token, origin string) bool {
	if !IsPortalToken(token) {
		return false
	}
	s, err := p.authn.AuthenticatePortal(ctx, token)
	return err == nil && s.AllowsOrigin(origin)
}

var _ OriginLister = store.PortalSessions(nil)
