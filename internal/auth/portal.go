package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/store"
)

// PortalTokenPrefix starts every portal session token.
const PortalTokenPrefix = "hps_"

// PortalRecheckInterval is how often a stream opened with a portal token reads its session again (through the
// PortalCacheTTL cache): a revoked or expired session's streams end within about PortalRecheckInterval +
// PortalCacheTTL.
const PortalRecheckInterval = time.Second

// PortalCacheTTL is how long an Authenticator remembers a portal session it found. RevokePortalSessions forgets
// the tenant's sessions at once in the process that revoked them; the other processes of a cluster read the
// revocation from the database within PortalCacheTTL.
const PortalCacheTTL = time.Second

// Errors of AuthenticatePortal.
var (
	// ErrUnknownSession means no portal session has this token.
	ErrUnknownSession = errors.New("unknown portal token")
	// ErrRevokedSession means the portal session was revoked.
	ErrRevokedSession = errors.New("portal session revoked")
	// ErrExpiredSession means the portal session expired.
	ErrExpiredSession = errors.New("portal session expired")
)

// IsPortalToken reports whether a bearer token is a portal token (by its prefix).
func IsPortalToken(token string) bool { return strings.HasPrefix(token, PortalTokenPrefix) }

// GeneratePortalToken returns a new random portal token: "hps_" + base64url(32 random bytes).
func GeneratePortalToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate portal token: %w", err)
	}
	return PortalTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// PortalStore finds portal sessions.
type PortalStore interface {
	// PortalSessionByHash finds a session by the SHA-256 hash of its token.
	PortalSessionByHash(ctx context.Context, hash []byte) (*store.PortalSession, error)
}

// AuthenticatePortal finds the live session of a portal token (remembered for PortalCacheTTL; its expiry is
// checked on every call). Unknown tokens give ErrUnknownSession, revoked ones ErrRevokedSession, expired ones
// ErrExpiredSession.
func (a *Authenticator) AuthenticatePortal(ctx context.Context, token string) (*store.PortalSession, error) {
	ps, ok := a.st.(PortalStore)
	if !ok || token == "" {
		return nil, ErrUnknownSession
	}
	load := func(ctx context.Context) (*store.PortalSession, error) {
		hash := HashKey(token)
		s, err := ps.PortalSessionByHash(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnknownSession
		}
		if err != nil {
			return nil, fmt.Errorf("find portal session: %w", err)
		}
		if subtle.ConstantTimeCompare(s.Hash, hash) != 1 {
			return nil, ErrUnknownSession
		}
		return s, nil
	}
	var s *store.PortalSession
	var err error
	if a.sessions == nil {
		s, err = load(ctx)
	} else {
		s, err = a.sessions.Get(ctx, sha256.Sum256([]byte(token)), load)
	}
	if err != nil {
		return nil, err
	}
	if s.RevokeTime != nil {
		return nil, ErrRevokedSession
	}
	if !a.now().Before(s.ExpireTime) {
		return nil, ErrExpiredSession
	}
	return s, nil
}

func (a *Authenticator) now() time.Time {
	if a.clk == nil {
		return time.Now()
	}
	return a.clk.Now()
}

// newSessionCache is the portal session cache of NewAuthenticator.
func newSessionCache(a *Authenticator) *cache.TTL[[sha256.Size]byte, *store.PortalSession] {
	return cache.New[[sha256.Size]byte, *store.PortalSession](PortalCacheTTL, 0, a.clk)
}

// PortalPrincipal is the Principal of a portal session: its project, the session's role, and the session.
func PortalPrincipal(s *store.PortalSession) Principal {
	return Principal{KeyID: s.ID, ProjectID: s.ProjectID, Role: s.Role, Portal: s}
}

// sessionError maps an error of AuthenticatePortal to a Connect error (nil stays nil).
func sessionError(ctx context.Context, procedure string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownSession), errors.Is(err, ErrRevokedSession), errors.Is(err, ErrExpiredSession):
		return connect.NewError(connect.CodeUnauthenticated, err)
	default:
		return keyError(ctx, procedure, err)
	}
}

// PortalAccess is what a portal token may do with a procedure.
type PortalAccess int

// Portal accesses.
const (
	// PortalDenied procedures answer permission_denied to every portal token.
	PortalDenied PortalAccess = iota + 1
	// PortalRead procedures are open to every portal session, confined to its tenant by the handler.
	PortalRead
	// PortalWrite procedures are open to ROLE_MEMBER portal sessions, confined to their tenant by the handler.
	PortalWrite
)

// PortalTable classifies every hookd.v1 procedure for portal tokens (TestPortalTableClassifiesEveryRPC fails for
// a procedure missing here). Handlers of the PortalRead and PortalWrite procedures confine the call to the
// session's tenant (its webhooks, their subscriptions, the allowed event types, its events and deliveries):
// another tenant's or the project's own objects are not_found.
var PortalTable = map[string]PortalAccess{
	hookdv1connect.ProjectServiceCreateProjectProcedure: PortalDenied,
	hookdv1connect.ProjectServiceGetProjectProcedure:    PortalDenied,
	hookdv1connect.ProjectServiceListProjectsProcedure:  PortalDenied,

	hookdv1connect.ApiKeyServiceGetCurrentApiKeyProcedure: PortalDenied,
	hookdv1connect.ApiKeyServiceCreateApiKeyProcedure:     PortalDenied,
	hookdv1connect.ApiKeyServiceListApiKeysProcedure:      PortalDenied,
	hookdv1connect.ApiKeyServiceRevokeApiKeyProcedure:     PortalDenied,

	hookdv1connect.IntegrationServiceCreateIntegrationProcedure: PortalDenied,
	hookdv1connect.IntegrationServiceGetIntegrationProcedure:    PortalDenied,
	hookdv1connect.IntegrationServiceListIntegrationsProcedure:  PortalDenied,
	hookdv1connect.IntegrationServiceUpdateIntegrationProcedure: PortalDenied,
	hookdv1connect.IntegrationServiceDeleteIntegrationProcedure: PortalDenied,

	hookdv1connect.WebhookServiceCreateWebhookProcedure:       PortalWrite,
	hookdv1connect.WebhookServiceGetWebhookProcedure:          PortalRead,
	hookdv1connect.WebhookServiceListWebhooksProcedure:        PortalRead,
	hookdv1connect.WebhookServiceUpdateWebhookProcedure:       PortalWrite,
	hookdv1connect.WebhookServiceDeleteWebhookProcedure:       PortalWrite,
	hookdv1connect.WebhookServiceCopyWebhookProcedure:         PortalDenied,
	hookdv1connect.WebhookServiceRotateWebhookSecretProcedure: PortalWrite,
	hookdv1connect.WebhookServiceTestWebhookProcedure:         PortalWrite,
	hookdv1connect.WebhookServiceRenderWebhookBodyProcedure:   PortalDenied,
	hookdv1connect.WebhookServiceGetWebhookStatsProcedure:     PortalRead,

	hookdv1connect.EventTypeServiceCreateEventTypeProcedure: PortalDenied,
	hookdv1connect.EventTypeServiceGetEventTypeProcedure:    PortalRead,
	hookdv1connect.EventTypeServiceListEventTypesProcedure:  PortalRead,
	hookdv1connect.EventTypeServiceUpdateEventTypeProcedure: PortalDenied,
	hookdv1connect.EventTypeServiceDeleteEventTypeProcedure: PortalDenied,

	hookdv1connect.SubscriptionServiceCreateSubscriptionProcedure: PortalWrite,
	hookdv1connect.SubscriptionServiceGetSubscriptionProcedure:    PortalRead,
	hookdv1connect.SubscriptionServiceListSubscriptionsProcedure:  PortalRead,
	hookdv1connect.SubscriptionServiceUpdateSubscriptionProcedure: PortalWrite,
	hookdv1connect.SubscriptionServiceDeleteSubscriptionProcedure: PortalWrite,
	// TestSubscriptionFilter reads nothing of the project: it evaluates the filter it is given.
	hookdv1connect.SubscriptionServiceTestSubscriptionFilterProcedure: PortalRead,

	hookdv1connect.EventServicePublishEventProcedure:  PortalDenied,
	hookdv1connect.EventServicePublishEventsProcedure: PortalDenied,
	hookdv1connect.EventServiceGetEventProcedure:      PortalRead,
	hookdv1connect.EventServiceListEventsProcedure:    PortalRead,

	hookdv1connect.DeliveryServiceListDeliveriesProcedure:        PortalRead,
	hookdv1connect.DeliveryServiceGetDeliveryProcedure:           PortalRead,
	hookdv1connect.DeliveryServiceRetryDeliveryProcedure:         PortalWrite,
	hookdv1connect.DeliveryServiceRetryDeliveriesProcedure:       PortalWrite,
	hookdv1connect.DeliveryServiceCancelDeliveryProcedure:        PortalDenied,
	hookdv1connect.DeliveryServiceExportDeliveriesProcedure:      PortalRead,
	hookdv1connect.DeliveryServiceCreateExportLinkProcedure:      PortalDenied,
	hookdv1connect.DeliveryServiceWatchDeliveriesProcedure:       PortalRead,
	hookdv1connect.DeliveryServiceListenDeliveriesProcedure:      PortalDenied,
	hookdv1connect.DeliveryServiceReportListenedAttemptProcedure: PortalDenied,

	hookdv1connect.ActionStatusServiceUpdateActionStatusProcedure: PortalDenied,

	hookdv1connect.TriggerServiceCreateTriggerProcedure:  PortalDenied,
	hookdv1connect.TriggerServiceGetTriggerProcedure:     PortalDenied,
	hookdv1connect.TriggerServiceListTriggersProcedure:   PortalDenied,
	hookdv1connect.TriggerServiceUpdateTriggerProcedure:  PortalDenied,
	hookdv1connect.TriggerServiceDeleteTriggerProcedure:  PortalDenied,
	hookdv1connect.TriggerServiceListExecutionsProcedure: PortalDenied,
	hookdv1connect.TriggerServiceGetExecutionProcedure:   PortalDenied,

	hookdv1connect.PortalServiceCreatePortalSessionProcedure:     PortalDenied,
	hookdv1connect.PortalServiceRevokePortalSessionsProcedure:    PortalDenied,
	hookdv1connect.PortalServiceGetCurrentPortalSessionProcedure: PortalRead,
}

// authorizePortal returns nil when the portal principal may call the procedure, else permission_denied.
func authorizePortal(pr Principal, procedure string) error {
	method := procedure[strings.LastIndexByte(procedure, '/')+1:]
	switch PortalTable[procedure] {
	case PortalRead:
		return nil
	case PortalWrite:
		if pr.Role == store.RoleMember {
			return nil
		}
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s needs a ROLE_MEMBER portal session (this one reads only)", method))
	default:
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s is not available to a portal token", method))
	}
}
