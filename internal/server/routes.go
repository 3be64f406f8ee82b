package server

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/actionstatus"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/console"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/router"
	"github.com/hookd/hookd/internal/strictjson"
	"github.com/hookd/hookd/internal/trigger"
)

// compressMinBytes is the smallest response body hookd compresses (when the client accepts gzip).
const compressMinBytes = 4 << 10

// routerConfig is the router configuration of the Config's role: every service and plain HTTP route, or for a
// sender-only process just the probes and metrics.
func (s *Server) routerConfig() *router.Config {
	separate := s.cfg.AdminAddr != ""
	if s.cfg.Role == RoleSender {
		return &router.Config{Ready: s.db.Ping, Registry: s.registry, Logger: s.log, SeparateAdmin: separate}
	}
	st := s.db.Store()
	authn := auth.NewAuthenticator(st, s.clock)
	authn.Streams = auth.StreamLimits{MaxLifetime: s.cfg.MaxStreamLifetime}
	deps := api.Deps{Store: st, Feed: s.db.Feed(), Clock: s.clock, Log: s.log, Dev: s.cfg.Dev, PublicURL: s.publicURL, Auth: authn,
		Quotas: s.cfg.Quotas, LinkKeys: s.cfg.Store.Keyring, Retention: s.cfg.Retention,
		MaxPayloadBytes: s.cfg.MaxPayloadBytes, Listen: s.listen}
	policy := auth.DefaultPolicy()
	opts := append(s.tracing.HandlerOptions(), // first: the RPC's span covers authentication and the boundary too
		// The error boundary is outermost of hookd's own interceptors: it maps what every handler (and the
		// authenticator) returns.
		connect.WithInterceptors(apierr.NewInterceptor(s.log), authn.Interceptor(policy)),
		connect.WithReadMaxBytes(int(s.cfg.MaxRequestBytes)),
		connect.WithSendMaxBytes(pagination.MaxResponseBytes),
		// Small responses are not compressed: gzip's setup costs more than the bytes it saves.
		connect.WithCompressMinBytes(compressMinBytes))
	opts = append(opts, strictjson.HandlerOptions()...)
	trg := trigger.Config{Store: st, Rates: s.db.RateWindows(), Outcomes: s.db.Notifier(), Clock: s.clock, Log: s.log, PublicURL: s.publicURL,
		MaxPayloadBytes: s.cfg.MaxPayloadBytes, Registerer: s.registry, Keyring: s.cfg.Store.Keyring}

	var services []router.Service
	add := func(name, path string, h http.Handler) {
		services = append(services, router.Service{Name: name, Path: path, Handler: h})
	}
	p, h := hookdv1connect.NewProjectServiceHandler(api.NewProjectService(deps), opts...)
	add(hookdv1connect.ProjectServiceName, p, h)
	p, h = hookdv1connect.NewApiKeyServiceHandler(api.NewApiKeyService(deps), opts...)
	add(hookdv1connect.ApiKeyServiceName, p, h)
	p, h = hookdv1connect.NewIntegrationServiceHandler(api.NewIntegrationService(deps), opts...)
	add(hookdv1connect.IntegrationServiceName, p, h)
	p, h = hookdv1connect.NewWebhookServiceHandler(api.NewWebhookService(deps, s.snd), opts...)
	add(hookdv1connect.WebhookServiceName, p, h)
	p, h = hookdv1connect.NewEventTypeServiceHandler(api.NewEventTypeService(deps), opts...)
	add(hookdv1connect.EventTypeServiceName, p, h)
	p, h = hookdv1connect.NewSubscriptionServiceHandler(api.NewSubscriptionService(deps), opts...)
	add(hookdv1connect.SubscriptionServiceName, p, h)
	p, h = hookdv1connect.NewEventServiceHandler(api.NewEventService(deps, api.EventConfig{Registerer: s.registry}), opts...)
	add(hookdv1connect.EventServiceName, p, h)
	p, h = hookdv1connect.NewDeliveryServiceHandler(api.NewDeliveryService(deps), opts...)
	add(hookdv1connect.DeliveryServiceName, p, h)
	callbacks := actionstatus.Config{Store: st, Keys: s.cfg.Store.Keyring, Clock: s.clock, Log: s.log}
	p, h = hookdv1connect.NewActionStatusServiceHandler(actionstatus.NewService(callbacks), opts...)
	add(hookdv1connect.ActionStatusServiceName, p, h)
	p, h = hookdv1connect.NewTriggerServiceHandler(api.NewTriggerService(deps, api.TriggerConfig{
		MaxBodyBytes: trg.MaxBodyBytes, DefaultRateLimit: trg.DefaultRateLimit}), opts...)
	add(hookdv1connect.TriggerServiceName, p, h)
	p, h = hookdv1connect.NewPortalServiceHandler(api.NewPortalService(deps), opts...)
	add(hookdv1connect.PortalServiceName, p, h)

	inbound := trigger.NewHandler(trg)
	routes := map[string]http.Handler{
		"/v1/action-status/":        s.tracing.PublicHandler(actionstatus.NewHandler(callbacks), "/v1/action-status/{token}"),
		"GET /v1/deliveries/export": api.NewExportHandler(deps, policy),
		"/t/":                       s.tracing.PublicHandler(inbound, "/t/{trigger_id}"),
		"/v1/executions/":           inbound,
	}
	if s.cfg.Console {
		routes["/"] = console.Handler() // every path no other route takes; API paths still answer 404
		routes["GET /portal/{session_id}"] = console.Portal(s.portalFrameAncestors)
	}
	return &router.Config{
		Services:        services,
		Routes:          routes,
		Ready:           s.db.Ping,
		Registry:        s.registry,
		CORSOrigins:     s.cfg.CORSOrigins,
		Portal:          auth.NewPortalOrigins(authn, st),
		MaxRequestBytes: s.cfg.MaxRequestBytes,
		Logger:          s.log,
		SeparateAdmin:   separate,
	}
}

// portalFrameAncestors returns the allowed origins of a live portal session (nil when unknown or ended): the
// origins that may frame its portal page.
func (s *Server) portalFrameAncestors(ctx context.Context, sessionID string) []string {
	ps, err := s.db.Store().GetPortalSession(ctx, sessionID)
	if err != nil || !ps.Live(s.clock.Now()) {
		return nil
	}
	return ps.AllowedOrigins
}
