package store

import (
	"context"
	"time"

	"github.com/hookd/hookd/internal/health"
)

// PortalSession is a tenant's portal session: a short-lived bearer token confined to one tenant of a project.
// Only the SHA-256 hash of the token is stored.
type PortalSession struct {
	ID        string
	ProjectID string
	TenantID  string
	// Role is RoleMember or RoleViewer.
	Role Role
	Hash []byte
	// AllowedOrigins are the browser origins that may call the API with the token and frame the portal.
	AllowedOrigins []string
	// EventTypes is the allow-list of event types (empty: every non-operational type).
	EventTypes  []string
	Title       string
	AccentColor string
	CreateTime  time.Time
	ExpireTime  time.Time
	RevokeTime  *time.Time
}

// Live reports whether the session works at now (not revoked, not expired).
func (s *PortalSession) Live(now time.Time) bool {
	return s.RevokeTime == nil && now.Before(s.ExpireTime)
}

// AllowsOrigin reports whether origin is one of the session's allowed origins.
func (s *PortalSession) AllowsOrigin(origin string) bool {
	for _, o := range s.AllowedOrigins {
		if o == origin {
			return true
		}
	}
	return false
}

// AllowsEventType reports whether the session's tenant may use the event type: one of the allow-list, or any
// non-operational type when the session has none.
func (s *PortalSession) AllowsEventType(name string) bool {
	if len(s.EventTypes) == 0 {
		return !health.IsOperational(name)
	}
	for _, t := range s.EventTypes {
		if t == name {
			return true
		}
	}
	return false
}

// PortalSessions stores portal sessions.
type PortalSessions interface {
	// CreatePortalSession stores a session (its hash, never the token), filling in its id and create time when
	// empty.
	CreatePortalSession(ctx context.Context, s *PortalSession) error
	// PortalSessionByHash finds a session of any project by the SHA-256 hash of its token (expired and revoked
	// ones too); ErrNotFound when unknown.
	PortalSessionByHash(ctx context.Context, hash []byte) (*PortalSession, error)
	// GetPortalSession finds a session of any project by id (for the portal page); ErrNotFound when unknown.
	GetPortalSession(ctx context.Context, id string) (*PortalSession, error)
	// RevokePortalSessions revokes the live sessions of a tenant and returns their token hashes.
	RevokePortalSessions(ctx context.Context, projectID, tenantID string, now time.Time) ([][]byte, error)
	// PortalOrigins returns the distinct allowed origins of the sessions live at now (for CORS preflights, which
	// carry no token).
	PortalOrigins(ctx context.Context, now time.Time) ([]string, error)
}
