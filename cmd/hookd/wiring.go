package main

import (
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/actionstatus"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/console"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/router"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store/storesql"
	"github.com/hookd/hookd/internal/strictjson"
	"github.com/hookd/hookd/internal/tracing"
	"github.com/hookd/hookd/internal/trigger"
)

// compressMinBytes is the smallest response body hookd compresses (when the client accepts gzip).
const compressMinBytes = 4 << 10

// wiring builds the parts of `hookd serve` from its flags; it holds no logic of its own.
type wiring struct {
	flags     *serveFlags
	store     *storesql.Store
	clock     clock.Clock
	log       *slog.Logger
	registry  *prometheus.Registry
	publicURL string
	// keys encrypt secrets at rest and derive the capability tokens (action status, sync results).
	keys *secret.Keyring
	snd  *sender.Sender
	// tracing makes the spans of the API, the public routes and the sender (nil: off).
	tracing *tracing.Provider
	// routes is the router configuration, built once (handler and adminHandler share it).
	routes *router.Config
}

// sender returns the delivery engine (also used by TestWebhook when this process only serves the API).
func (w *wiring) sender() *sender.Sender {
	if w.snd == nil {
		w.snd = sender.New(sender.Config{
			Queue: w.store, Listener: w.store.Listener(), Targets: w.store, Rates: w.store, ActionKeys: w.keys,
			Clock: w.clock, Log: w.log, Registerer: w.registry, Workers: w.flags.workers, PerWebhook: w.flags.webhookConcurrency,
			PerWebhookMetrics: w.flags.metricsPerWebhook,
			Lease:             w.flags.lease, Dev: w.flags.dev, PublicURL: w.publicURL, UserAgent: "hookd/" + version,
			TracerProvider: w.tracing.TracerProvider(),
		})
	}
	return w.snd
}

// handler returns the root HTTP handler: every implemented service plus the plain HTTP routes. A sender-only
// process (--role sender) serves just the probes and metrics. With --admin-addr, metrics and gRPC reflection
// are left to adminHandler.
func (w *wiring) handler() http.Handler {
	return router.New(*w.routerConfig())
}

// adminHandler returns the handler of the --admin-addr listener: metrics, gRPC reflection and probes.
func (w *wiring) adminHandler() http.Handler {
	return router.NewAdmin(*w.routerConfig())
}

func (w *wiring) routerConfig() *router.Config {
	if w.routes == nil {
		w.routes = w.buildRouterConfig()
	}
	return w.routes
}

func (w *wiring) buildRouterConfig() *router.Config {
	separate := w.flags.adminAddr != ""
	if w.flags.role == "sender" {
		return &router.Config{Ready: w.store.Ping, Registry: w.registry, Logger: w.log, SeparateAdmin: separate}
	}
	quotas := quota.Limits{Integrations: w.flags.maxIntegrations, Webhooks: w.flags.maxWebhooks, Triggers: w.flags.maxTriggers, EventTypes: w.flags.maxEventTypes,
		Subscriptions: w.flags.maxSubscriptions}
	authn := auth.NewAuthenticator(w.store, w.clock)
	authn.Streams = auth.StreamLimits{MaxLifetime: w.flags.maxStreamLifetime}
	deps := api.Deps{Store: w.store, Clock: w.clock, Log: w.log, Dev: w.flags.dev, PublicURL: w.publicURL, Auth: authn,
		Quotas: quotas, LinkKeys: w.keys}
	policy := auth.DefaultPolicy()
	opts := append(w.tracing.HandlerOptions(), // first: the RPC's span covers authentication and the boundary too
		// The error boundary is outermost of hookd's own interceptors: it maps what every handler (and the
		// authenticator) returns.
		connect.WithInterceptors(apierr.NewInterceptor(w.log), authn.Interceptor(policy)),
		connect.WithReadMaxBytes(int(w.flags.maxRequestBytes)),
		connect.WithSendMaxBytes(pagination.MaxResponseBytes),
		// Small responses are not compressed: gzip's setup costs more than the bytes it saves.
		connect.WithCompressMinBytes(compressMinBytes))
	opts = append(opts, strictjson.HandlerOptions()...)
	trg := trigger.Config{Store: w.store, Rates: w.store, Clock: w.clock, Log: w.log, PublicURL: w.publicURL,
		MaxPayloadBytes: w.flags.maxPayloadBytes, Registerer: w.registry, Keyring: w.keys}

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
	p, h = hookdv1connect.NewWebhookServiceHandler(api.NewWebhookService(deps, w.sender()), opts...)
	add(hookdv1connect.WebhookServiceName, p, h)
	p, h = hookdv1connect.NewEventTypeServiceHandler(api.NewEventTypeService(deps), opts...)
	add(hookdv1connect.EventTypeServiceName, p, h)
	p, h = hookdv1connect.NewSubscriptionServiceHandler(api.NewSubscriptionService(deps), opts...)
	add(hookdv1connect.SubscriptionServiceName, p, h)
	p, h = hookdv1connect.NewEventServiceHandler(api.NewEventService(deps, api.EventConfig{
		MaxPayloadBytes: w.flags.maxPayloadBytes, Registerer: w.registry}), opts...)
	add(hookdv1connect.EventServiceName, p, h)
	p, h = hookdv1connect.NewDeliveryServiceHandler(api.NewDeliveryService(deps), opts...)
	add(hookdv1connect.DeliveryServiceName, p, h)
	callbacks := actionstatus.Config{Store: w.store, Keys: w.keys, Clock: w.clock, Log: w.log}
	p, h = hookdv1connect.NewActionStatusServiceHandler(actionstatus.NewService(callbacks), opts...)
	add(hookdv1connect.ActionStatusServiceName, p, h)
	p, h = hookdv1connect.NewTriggerServiceHandler(api.NewTriggerService(deps, api.TriggerConfig{
		MaxBodyBytes: trg.MaxBodyBytes, DefaultRateLimit: trg.DefaultRateLimit}), opts...)
	add(hookdv1connect.TriggerServiceName, p, h)

	inbound := trigger.NewHandler(trg)
	routes := map[string]http.Handler{
		"/v1/action-status/":        w.tracing.PublicHandler(actionstatus.NewHandler(callbacks), "/v1/action-status/{token}"),
		"GET /v1/deliveries/export": api.NewExportHandler(deps, policy),
		"/t/":                       w.tracing.PublicHandler(inbound, "/t/{trigger_id}"),
		"/v1/executions/":           inbound,
	}
	if w.flags.console {
		routes["/"] = console.Handler() // every path no other route takes; API paths still answer 404
	}
	return &router.Config{
		Services:        services,
		Routes:          routes,
		Ready:           w.store.Ping,
		Registry:        w.registry,
		CORSOrigins:     w.flags.corsOrigins,
		MaxRequestBytes: w.flags.maxRequestBytes,
		Logger:          w.log,
		SeparateAdmin:   separate,
	}
}
