package api

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

// Limits of CreatePortalSession.
const (
	// DefaultPortalTTL is how long a portal session works when the request sets no ttl.
	DefaultPortalTTL = time.Hour
	// MaxPortalTTL is the longest ttl of a portal session.
	MaxPortalTTL = 24 * time.Hour
	// minPortalTTL is the shortest ttl of a portal session.
	minPortalTTL = time.Minute
	// maxPortalOrigins caps a session's allowed_origins.
	maxPortalOrigins = 10
	// maxPortalEventTypes caps a session's event_types.
	maxPortalEventTypes = 100
	// maxPortalTitle caps a session's title (characters).
	maxPortalTitle = 100
)

// accentColor is a CSS hex colour, the only accent_color a session keeps (it is written into the portal's CSS).
var accentColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// NewPortalService returns the PortalService handler: it mints and revokes the tenants' portal sessions.
func NewPortalService(d Deps) hookdv1connect.PortalServiceHandler {
	return &portalService{d: d}
}

type portalService struct{ d Deps }

// CreatePortalSession implements hookdv1connect.PortalServiceHandler.
func (s *portalService) CreatePortalSession(ctx context.Context, req *connect.Request[hookdv1.CreatePortalSessionRequest]) (*connect.Response[hookdv1.CreatePortalSessionResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.GetTenantId() == "" {
		return nil, apierr.Invalid("tenant_id", "is required")
	}
	if err := checkTenantID("tenant_id", m.GetTenantId()); err != nil {
		return nil, err
	}
	role := store.RoleMember
	switch m.GetRole() {
	case hookdv1.Role_ROLE_UNSPECIFIED, hookdv1.Role_ROLE_MEMBER:
	case hookdv1.Role_ROLE_VIEWER:
		role = store.RoleViewer
	default:
		return nil, apierr.Invalid("role", "must be ROLE_MEMBER or ROLE_VIEWER")
	}
	ttl, err := durationField("ttl", m.GetTtl(), DefaultPortalTTL, minPortalTTL, MaxPortalTTL)
	if err != nil {
		return nil, err
	}
	origins, err := portalOrigins(m.GetAllowedOrigins())
	if err != nil {
		return nil, err
	}
	types, err := s.eventTypes(ctx, p.ProjectID, m.GetEventTypes())
	if err != nil {
		return nil, err
	}
	if n := len([]rune(m.GetTitle())); n > maxPortalTitle {
		return nil, apierr.Invalid("title", "is %d characters; the limit is %d", n, maxPortalTitle)
	}
	if c := m.GetAccentColor(); c != "" && !accentColor.MatchString(c) {
		return nil, apierr.Invalid("accent_color", "must be a hex colour, #rgb or #rrggbb")
	}
	token, err := auth.GeneratePortalToken()
	if err != nil {
		return nil, err
	}
	now := s.d.now()
	ps := &store.PortalSession{
		ID: id.New(id.PortalSession, now), ProjectID: p.ProjectID, TenantID: m.GetTenantId(), Role: role,
		Hash: auth.HashKey(token), AllowedOrigins: origins, EventTypes: types, Title: m.GetTitle(),
		AccentColor: m.GetAccentColor(), CreateTime: now, ExpireTime: now.Add(ttl),
	}
	if err := s.d.Store.CreatePortalSession(ctx, ps); err != nil {
		return nil, fmt.Errorf("create portal session: %w", err)
	}
	s.d.log().InfoContext(ctx, "created portal session", "session_id", ps.ID, "project_id", ps.ProjectID,
		"tenant_id", ps.TenantID, "by_key_id", p.KeyID)
	return connect.NewResponse(&hookdv1.CreatePortalSessionResponse{
		Token: token, SessionId: ps.ID, ExpireTime: timestamp(ps.ExpireTime),
		PortalUrl: s.d.PublicURL + "/portal/" + ps.ID + "#token=" + token, Session: portalSessionToProto(ps),
	}), nil
}

// eventTypes validates a session's allow-list: existing, non-operational types; repeats dropped.
func (s *portalService) eventTypes(ctx context.Context, projectID string, names []string) ([]string, error) {
	if len(names) > maxPortalEventTypes {
		return nil, apierr.Invalid("event_types", "has %d entries; the limit is %d", len(names), maxPortalEventTypes)
	}
	var out []string
	for i, n := range names {
		field := fmt.Sprintf("event_types[%d]", i)
		if health.IsOperational(n) {
			return nil, apierr.Invalid(field, "%q is an operational event type: tenants do not receive it", n)
		}
		if slices.Contains(out, n) {
			continue
		}
		_, err := s.d.Store.GetEventTypeByName(ctx, projectID, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.Invalid(field, "event type %q does not exist", n)
		}
		if err != nil {
			return nil, apierr.About("event type", n, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// portalOrigins validates allowed origins: "scheme://host[:port]" (http or https), nothing else.
func portalOrigins(in []string) ([]string, error) {
	if len(in) > maxPortalOrigins {
		return nil, apierr.Invalid("allowed_origins", "has %d entries; the limit is %d", len(in), maxPortalOrigins)
	}
	var out []string
	for i, o := range in {
		field := fmt.Sprintf("allowed_origins[%d]", i)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
			return nil, apierr.Invalid(field, "%q is not an origin: give scheme://host[:port], e.g. https://app.example.com", o)
		}
		origin := strings.ToLower(u.Scheme + "://" + u.Host)
		if !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	return out, nil
}

// RevokePortalSessions implements hookdv1connect.PortalServiceHandler. The sessions stop working at once in this
// process (forgotten by its authenticator) and within auth.PortalCacheTTL in the others.
func (s *portalService) RevokePortalSessions(ctx context.Context, req *connect.Request[hookdv1.RevokePortalSessionsRequest]) (*connect.Response[hookdv1.RevokePortalSessionsResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetTenantId() == "" {
		return nil, apierr.Invalid("tenant_id", "is required")
	}
	if err := checkTenantID("tenant_id", req.Msg.GetTenantId()); err != nil {
		return nil, err
	}
	hashes, err := s.d.Store.RevokePortalSessions(ctx, p.ProjectID, req.Msg.GetTenantId(), s.d.now())
	if err != nil {
		return nil, fmt.Errorf("revoke portal sessions: %w", err)
	}
	for _, h := range hashes {
		s.d.Auth.Forget(h)
	}
	s.d.log().InfoContext(ctx, "revoked portal sessions", "project_id", p.ProjectID, "tenant_id", req.Msg.GetTenantId(),
		"count", len(hashes), "by_key_id", p.KeyID)
	return connect.NewResponse(&hookdv1.RevokePortalSessionsResponse{Count: int32(len(hashes))}), nil
}

// GetCurrentPortalSession implements hookdv1connect.PortalServiceHandler.
func (s *portalService) GetCurrentPortalSession(ctx context.Context, _ *connect.Request[hookdv1.GetCurrentPortalSessionRequest]) (*connect.Response[hookdv1.GetCurrentPortalSessionResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Portal == nil {
		return nil, portalDenied("GetCurrentPortalSession needs a portal token (hps_…), not an API key")
	}
	return connect.NewResponse(&hookdv1.GetCurrentPortalSessionResponse{Session: portalSessionToProto(p.Portal)}), nil
}

func portalSessionToProto(ps *store.PortalSession) *hookdv1.PortalSession {
	return &hookdv1.PortalSession{
		Id: ps.ID, TenantId: ps.TenantID, Role: roleToProto(ps.Role), CreateTime: timestamp(ps.CreateTime),
		ExpireTime: timestamp(ps.ExpireTime), AllowedOrigins: ps.AllowedOrigins, EventTypes: ps.EventTypes,
		Title: ps.Title, AccentColor: ps.AccentColor,
	}
}
