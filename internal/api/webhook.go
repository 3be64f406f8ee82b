package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/render"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/store"
)

// Webhook defaults and limits.
const (
	// DefaultExponentialRetries is the number of retries of the EXPONENTIAL policy (16 attempts).
	DefaultExponentialRetries = 15
	// SecretOverlap is how long the secret replaced by RotateWebhookSecret keeps signing.
	SecretOverlap = 24 * time.Hour
	// TestEventType is the event type of a test send that names none.
	TestEventType = "webhook.test"

	minWebhookTimeout = time.Second
	maxAsyncTimeout   = 30 * 24 * time.Hour
	minFixedInterval  = time.Second
	maxFixedInterval  = 24 * time.Hour
	maxFixedRetries   = 10
	// maxWebhookTimeout is the longest timeout a webhook may set: the sender's attempt timeout, which is also
	// the default (sender.DefaultTimeout).
	maxWebhookTimeout = sender.DefaultTimeout
	// maxFailureThreshold bounds failure_threshold (0 = never disable).
	maxFailureThreshold = 10000
	// DefaultStatsWindow is the window of GetWebhookStats when the request sets none.
	DefaultStatsWindow = 24 * time.Hour
	minStatsWindow     = time.Minute
	maxStatsWindow     = 30 * 24 * time.Hour
)

// NewWebhookService returns the WebhookService handler; t sends TestWebhook requests (nil: test sends are refused).
func NewWebhookService(d Deps, t Tester) hookdv1connect.WebhookServiceHandler {
	return &webhookService{d: d, tester: t}
}

type webhookService struct {
	d      Deps
	tester Tester
}

// CreateWebhook implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) CreateWebhook(ctx context.Context, req *connect.Request[hookdv1.CreateWebhookRequest]) (*connect.Response[hookdv1.CreateWebhookResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	now := s.d.now()
	w := &store.Webhook{
		ID: id.New(id.Webhook, now), ProjectID: p.ProjectID, IntegrationID: m.GetIntegrationId(), Name: m.GetName(),
		SystemName: m.GetSystemName(), Description: m.GetDescription(), Method: strings.ToUpper(m.GetMethod()),
		URL: m.GetUrl(), Path: m.GetPath(), IntegrationHeaders: integrationHeadersFromProto(m.GetIntegrationHeaders()),
		BodyTemplate: m.GetBodyTemplate(), AsyncStatus: m.GetAsyncStatus(), Enabled: true,
		FailureThreshold: int(m.GetFailureThreshold()), NoTraceparent: m.SendTraceparent != nil && !m.GetSendTraceparent(),
		SignatureHeader: strings.TrimSpace(m.GetSignatureHeader()), IDHeader: strings.TrimSpace(m.GetIdHeader()),
		TimestampHeader: strings.TrimSpace(m.GetTimestampHeader()), Ordered: m.GetOrdered(),
		CreateTime: now, UpdateTime: now,
	}
	if w.SystemName == "" {
		w.SystemName = slug(w.Name)
	}
	if w.Method == "" {
		w.Method = store.DefaultHTTPMethod
	}
	if m.Enabled != nil && !m.GetEnabled() {
		w.Enabled, w.DisabledReason, w.DisableTime = false, health.DisabledByPerson.String(), &now
	}
	if err := checkTenantID("tenant_id", m.GetTenantId()); err != nil {
		return nil, err
	}
	w.TenantID = m.GetTenantId()
	if p.Portal != nil { // a tenant's own endpoint: its tenant, no integration
		if w.IntegrationID != "" {
			return nil, portalDenied("CreateWebhook: a portal token cannot use integrations (integration_id)")
		}
		if w.TenantID != "" && w.TenantID != p.TenantID() {
			return nil, apierr.Invalid("tenant_id", "a portal token creates webhooks of its own tenant only")
		}
		w.TenantID = p.TenantID()
	}
	if w.Headers, err = headersFromProto("headers", m.GetHeaders(), nil, true, p.IsAdmin()); err != nil {
		return nil, err
	}
	if w.RetryPolicy, err = retryPolicyFromProto(m.GetRetryPolicy()); err != nil {
		return nil, err
	}
	if m.RetryPolicy == nil && w.AsyncStatus {
		w.RetryPolicy = store.RetryPolicy{Kind: store.RetryNone} // async_status webhooks opt into retries
	}
	if w.SuccessStatusCodes, err = successCodesFromProto(m.GetSuccessStatusCodes()); err != nil {
		return nil, err
	}
	if w.SigningAlgorithm, err = signingAlgorithmFromProto(m.GetSigningAlgorithm()); err != nil {
		return nil, err
	}
	if w.SignatureStyle, err = signatureStyleFromProto(m.GetSignatureStyle()); err != nil {
		return nil, err
	}
	if w.Transport, err = transportFromProto(m.GetTransport()); err != nil {
		return nil, err
	}
	if w.Timeout, err = durationField("timeout", m.GetTimeout(), sender.DefaultTimeout, minWebhookTimeout, maxWebhookTimeout); err != nil {
		return nil, err
	}
	if w.AsyncTimeout, err = durationField("async_timeout", m.GetAsyncTimeout(), sender.DefaultAsyncTimeout, time.Second, maxAsyncTimeout); err != nil {
		return nil, err
	}
	in, err := s.integration(ctx, p.ProjectID, w.IntegrationID)
	if err != nil {
		return nil, err
	}
	if err := s.validate(w, in); err != nil {
		return nil, err
	}
	if err := s.dryRun(ctx, w, in); err != nil {
		return nil, err
	}
	w.PrivateOrigin = sender.BindPrivate(w, in, w.Headers)
	if err := s.d.Quotas.Check(ctx, s.d.Store, p.ProjectID, store.KindWebhook); err != nil {
		return nil, err
	}
	if w.Secret, w.PublicKey, err = newSigningSecret(w.SigningAlgorithm); err != nil {
		return nil, err
	}
	if err := s.d.Store.CreateWebhook(ctx, w); err != nil {
		return nil, s.storeError(ctx, w, err)
	}
	return connect.NewResponse(&hookdv1.CreateWebhookResponse{Webhook: webhookToProto(w, in, p.IsAdmin(), now)}), nil
}

// GetWebhook implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) GetWebhook(ctx context.Context, req *connect.Request[hookdv1.GetWebhookRequest]) (*connect.Response[hookdv1.GetWebhookResponse], error) {
	p, w, err := s.load(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	out, err := s.output(ctx, p, w, nil)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.GetWebhookResponse{Webhook: out}), nil
}

// ListWebhooks implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) ListWebhooks(ctx context.Context, req *connect.Request[hookdv1.ListWebhooksRequest]) (*connect.Response[hookdv1.ListWebhooksResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	tenant, err := tenantFilter(p, "tenant_id", req.Msg.GetTenantId())
	if err != nil {
		return nil, err
	}
	ws, err := s.d.Store.FilterWebhooks(ctx, p.ProjectID, store.WebhookFilter{IntegrationID: req.Msg.GetIntegrationId(),
		TenantID: tenant}, page)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	ws, next := pagination.Trim(ws, page, func(x store.Webhook) string { return x.ID })
	out := &hookdv1.ListWebhooksResponse{Webhooks: make([]*hookdv1.Webhook, 0, len(ws)), NextPageToken: next}
	cache := map[string]*store.Integration{}
	for i := range ws {
		pw, err := s.output(ctx, p, &ws[i], cache)
		if err != nil {
			return nil, err
		}
		out.Webhooks = append(out.Webhooks, pw)
	}
	return connect.NewResponse(out), nil
}

// UpdateWebhook implements hookdv1connect.WebhookServiceHandler. The change is applied to the webhook as it is
// when written (updateFresh): a concurrent update of other fields, or a RotateWebhookSecret, is kept.
func (s *webhookService) UpdateWebhook(ctx context.Context, req *connect.Request[hookdv1.UpdateWebhookRequest]) (*connect.Response[hookdv1.UpdateWebhookResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.GetUrl() != "" && m.GetPath() != "" {
		return nil, apierr.Invalid("path", "set either url or path, not both")
	}
	if m.GetReplayMissed() && !m.GetEnabled() {
		return nil, apierr.Invalid("replay_missed", "needs enabled: true (it re-queues what a disabled webhook missed)")
	}
	var (
		w  *store.Webhook
		in *store.Integration
	)
	if err := updateFresh(ctx, func() (err error) {
		w, in, err = s.update(ctx, p, m)
		return err
	}); err != nil {
		return nil, err
	}
	now := s.d.now()
	var replayed int
	if m.Enabled != nil {
		// Enabling and disabling are health changes: they publish hookd.webhook.enabled / .disabled.
		if w, replayed, err = s.d.Store.SetWebhookEnabled(ctx, store.SetWebhookEnabledParams{ProjectID: p.ProjectID, WebhookID: w.ID, Enabled: m.GetEnabled(), Reason: health.DisabledByPerson.String(), Replay: m.GetReplayMissed(), Now: now}); err != nil {
			return nil, apierr.About("webhook", m.GetId(), err)
		}
	}
	return connect.NewResponse(&hookdv1.UpdateWebhookResponse{Webhook: webhookToProto(w, in, p.IsAdmin(), now),
		Replayed: int32(replayed)}), nil
}

// update reads the webhook, applies m and writes it over the version read; it returns the webhook written and
// its integration (nil for none).
func (s *webhookService) update(ctx context.Context, p auth.Principal, m *hookdv1.UpdateWebhookRequest) (*store.Webhook, *store.Integration, error) {
	w, err := s.d.Store.GetWebhook(ctx, p.ProjectID, m.GetId())
	if err != nil {
		return nil, nil, apierr.About("webhook", m.GetId(), err)
	}
	if err := confine(p, "webhook", m.GetId(), w.TenantID); err != nil {
		return nil, nil, err
	}
	if p.Portal != nil && m.GetIntegrationId() != "" {
		return nil, nil, portalDenied("UpdateWebhook: a portal token cannot use integrations (integration_id)")
	}
	if m.TenantId != nil && m.GetTenantId() != w.TenantID {
		if p.Portal != nil || p.Role != store.RoleAdmin {
			return nil, nil, portalDenied("UpdateWebhook: moving a webhook to another tenant (tenant_id) needs an ADMIN key")
		}
		if err := checkTenantID("tenant_id", m.GetTenantId()); err != nil {
			return nil, nil, err
		}
		w.TenantID = m.GetTenantId()
	}
	oldHeaders, boundTo := w.Headers, w.PrivateOrigin
	if m.IntegrationId != nil && m.GetIntegrationId() != w.IntegrationID {
		w.IntegrationID = m.GetIntegrationId()
		if m.IntegrationHeaders == nil {
			w.IntegrationHeaders = nil // the old toggles named the old integration's headers
		}
	}
	if m.Name != nil {
		w.Name = m.GetName()
	}
	if m.SystemName != nil {
		w.SystemName = m.GetSystemName()
	}
	if m.Description != nil {
		w.Description = m.GetDescription()
	}
	if m.Method != nil {
		w.Method = strings.ToUpper(m.GetMethod())
	}
	if m.Url != nil {
		w.URL = m.GetUrl()
		if w.URL != "" {
			w.Path = ""
		}
	}
	if m.Path != nil {
		w.Path = m.GetPath()
		if w.Path != "" {
			w.URL = ""
		}
	}
	if m.IntegrationHeaders != nil {
		w.IntegrationHeaders = integrationHeadersFromProto(m.GetIntegrationHeaders().GetValues())
	}
	if m.Headers != nil {
		if w.Headers, err = headersFromProto("headers", m.GetHeaders().GetValues(), w.Headers, true, p.IsAdmin()); err != nil {
			return nil, nil, err
		}
	}
	if m.BodyTemplate != nil {
		w.BodyTemplate = m.GetBodyTemplate()
	}
	if m.RetryPolicy != nil {
		if w.RetryPolicy, err = retryPolicyFromProto(m.GetRetryPolicy()); err != nil {
			return nil, nil, err
		}
	}
	if m.Timeout != nil {
		if w.Timeout, err = durationField("timeout", m.GetTimeout(), sender.DefaultTimeout, minWebhookTimeout, maxWebhookTimeout); err != nil {
			return nil, nil, err
		}
	}
	if m.AsyncStatus != nil {
		if m.GetAsyncStatus() && !w.AsyncStatus && m.RetryPolicy == nil {
			w.RetryPolicy = store.RetryPolicy{Kind: store.RetryNone} // as at creation: retries are opted into
		}
		w.AsyncStatus = m.GetAsyncStatus()
	}
	if m.SuccessStatusCodes != nil {
		if w.SuccessStatusCodes, err = successCodesFromProto(m.GetSuccessStatusCodes().GetValues()); err != nil {
			return nil, nil, err
		}
	}
	if m.SendTraceparent != nil {
		w.NoTraceparent = !m.GetSendTraceparent()
	}
	if m.SignatureHeader != nil {
		w.SignatureHeader = strings.TrimSpace(m.GetSignatureHeader())
	}
	if m.IdHeader != nil {
		w.IDHeader = strings.TrimSpace(m.GetIdHeader())
	}
	if m.TimestampHeader != nil {
		w.TimestampHeader = strings.TrimSpace(m.GetTimestampHeader())
	}
	if m.SignatureStyle != nil {
		if w.SignatureStyle, err = signatureStyleFromProto(m.GetSignatureStyle()); err != nil {
			return nil, nil, err
		}
	}
	if m.Ordered != nil {
		w.Ordered = m.GetOrdered()
	}
	now := s.d.now()
	if m.SigningAlgorithm != nil {
		alg, err := signingAlgorithmFromProto(m.GetSigningAlgorithm())
		if err != nil {
			return nil, nil, err
		}
		if alg != cmp.Or(w.SigningAlgorithm, store.SigningHMACSHA256) {
			// A new secret or key pair of the new kind; the old one keeps signing for SecretOverlap.
			w.SigningAlgorithm = alg
			if err := rotateSecret(w, now); err != nil {
				return nil, nil, apierr.About("webhook", w.ID, err)
			}
		}
	}
	if m.AsyncTimeout != nil {
		if w.AsyncTimeout, err = durationField("async_timeout", m.GetAsyncTimeout(), sender.DefaultAsyncTimeout, time.Second, maxAsyncTimeout); err != nil {
			return nil, nil, err
		}
	}
	if m.FailureThreshold != nil {
		w.FailureThreshold = int(m.GetFailureThreshold())
	}
	in, err := s.integration(ctx, p.ProjectID, w.IntegrationID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.validate(w, in); err != nil {
		return nil, nil, err
	}
	if err := s.dryRun(ctx, w, in); err != nil {
		return nil, nil, err
	}
	if err := checkPrivateMove(p, m, w, in, oldHeaders, boundTo); err != nil {
		return nil, nil, err
	}
	w.PrivateOrigin = sender.BindPrivate(w, in, w.Headers)
	w.UpdateTime = now
	if err := s.d.Store.UpdateWebhook(ctx, w); err != nil {
		return nil, nil, s.storeError(ctx, w, err)
	}
	return w, in, nil
}

// checkPrivateMove refuses a non-ADMIN update that would send stored private header values (kept from old, bound
// to origin boundTo) to another origin: the webhook's new URL (its url, or its integration's base_url with its
// path) must keep the origin they were saved for. New private values are the caller's own and bind to the new
// origin.
func checkPrivateMove(p auth.Principal, m *hookdv1.UpdateWebhookRequest, w *store.Webhook, in *store.Integration, old []store.Header, boundTo string) error {
	if p.IsAdmin() || !keepsPrivate(old, w.Headers) {
		return nil
	}
	target, _ := netguard.Origin(sender.FullURL(w, in))
	if target == boundTo {
		return nil
	}
	field := "headers"
	switch {
	case m.IntegrationId != nil:
		field = "integration_id"
	case m.Url != nil:
		field = "url"
	case m.Path != nil:
		field = "path"
	}
	return apierr.PermissionDenied(fmt.Sprintf("%s: the webhook's private header values were saved for %s; only an ADMIN key may "+
		"send them to %s (or give them new values in the same update)", field, cmp.Or(boundTo, "no origin"), cmp.Or(target, "another origin")))
}

// keepsPrivate reports whether hs keeps a private value of old (a private header of the same name and value).
func keepsPrivate(old, hs []store.Header) bool {
	for _, h := range hs {
		if v, ok := storedPrivate(old, h.Name); ok && h.Private && h.Value == v {
			return true
		}
	}
	return false
}

// GetWebhookStats implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) GetWebhookStats(ctx context.Context, req *connect.Request[hookdv1.GetWebhookStatsRequest]) (*connect.Response[hookdv1.GetWebhookStatsResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	window, err := durationField("window", req.Msg.GetWindow(), DefaultStatsWindow, minStatsWindow, maxStatsWindow)
	if err != nil {
		return nil, err
	}
	if p.Portal != nil {
		if _, _, err := s.load(ctx, req.Msg.GetId()); err != nil {
			return nil, err
		}
	}
	st, err := s.d.Store.GetWebhookStats(ctx, store.WebhookStatsParams{ProjectID: p.ProjectID, WebhookID: req.Msg.GetId(), Window: window, Now: s.d.now()})
	if err != nil {
		return nil, apierr.About("webhook", req.Msg.GetId(), err)
	}
	return connect.NewResponse(&hookdv1.GetWebhookStatsResponse{Stats: webhookStatsToProto(st)}), nil
}

// DeleteWebhook implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) DeleteWebhook(ctx context.Context, req *connect.Request[hookdv1.DeleteWebhookRequest]) (*connect.Response[hookdv1.DeleteWebhookResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Portal != nil {
		if _, _, err := s.load(ctx, req.Msg.GetId()); err != nil {
			return nil, err
		}
	}
	if err := s.d.Store.DeleteWebhook(ctx, p.ProjectID, req.Msg.GetId(), s.d.now()); err != nil {
		return nil, apierr.About("webhook", req.Msg.GetId(), err)
	}
	return connect.NewResponse(&hookdv1.DeleteWebhookResponse{}), nil
}

// CopyWebhook implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) CopyWebhook(ctx context.Context, req *connect.Request[hookdv1.CopyWebhookRequest]) (*connect.Response[hookdv1.CopyWebhookResponse], error) {
	p, src, err := s.load(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	now := s.d.now()
	w := *src
	w.ID = id.New(id.Webhook, now)
	w.Name = req.Msg.GetName()
	if w.Name == "" {
		w.Name = src.Name + " (copy)"
	}
	w.SystemName = req.Msg.GetSystemName()
	if w.SystemName == "" {
		w.SystemName = slug(w.Name)
	}
	if err := checkName("name", w.Name, maxNameLen); err != nil {
		return nil, err
	}
	if err := checkSystemName(w.SystemName); err != nil {
		return nil, err
	}
	w.IntegrationHeaders = slices.Clone(src.IntegrationHeaders)
	w.Headers = slices.Clone(src.Headers)
	w.SuccessStatusCodes = slices.Clone(src.SuccessStatusCodes)
	w.PreviousSecret, w.PreviousSecretExpireTime, w.PreviousPublicKey = "", nil, ""
	w.ConsecutiveFailures, w.WarnedPercent, w.LastSuccessTime, w.LastFailureTime = 0, 0, nil, nil // a new health record
	w.CreateTime, w.UpdateTime = now, now
	subs, err := s.subscriptionsOf(ctx, p.ProjectID, src.ID)
	if err != nil {
		return nil, err
	}
	if err := s.d.Quotas.Check(ctx, s.d.Store, p.ProjectID, store.KindWebhook); err != nil {
		return nil, err
	}
	if err := s.d.Quotas.CheckN(ctx, s.d.Store, p.ProjectID, store.KindSubscription, len(subs)); err != nil {
		return nil, err
	}
	if w.Secret, w.PublicKey, err = newSigningSecret(w.SigningAlgorithm); err != nil {
		return nil, err
	}
	if err := s.d.Store.CreateWebhook(ctx, &w); err != nil {
		return nil, s.storeError(ctx, &w, err)
	}
	if err := s.copySubscriptions(ctx, &w, subs, now); err != nil {
		return nil, err
	}
	out, err := s.output(ctx, p, &w, nil)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.CopyWebhookResponse{Webhook: out}), nil
}

// subscriptionsOf returns every subscription of a webhook.
func (s *webhookService) subscriptionsOf(ctx context.Context, projectID, webhookID string) ([]store.Subscription, error) {
	var out []store.Subscription
	page := store.Page{Size: pagination.MaxSize}
	for {
		subs, err := s.d.Store.ListSubscriptions(ctx, projectID, store.SubscriptionFilter{WebhookID: webhookID}, page)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions of webhook %s: %w", webhookID, err)
		}
		out = append(out, subs...)
		if len(subs) < page.Size {
			return out, nil
		}
		page.After = subs[len(subs)-1].ID
	}
}

// copySubscriptions gives the new webhook w a copy of each of subs (same event types, subject filter and enabled
// flag). When one cannot be stored (e.g. an event type deleted meanwhile), w is deleted again: a copy is made
// whole or not at all.
func (s *webhookService) copySubscriptions(ctx context.Context, w *store.Webhook, subs []store.Subscription, now time.Time) error {
	for _, src := range subs {
		sub := &store.Subscription{
			ID: id.New(id.Subscription, now), ProjectID: w.ProjectID, WebhookID: w.ID, EventTypes: slices.Clone(src.EventTypes),
			SubjectFilter: src.SubjectFilter, Filter: src.Filter, Enabled: src.Enabled, CreateTime: now, UpdateTime: now,
		}
		if err := s.d.Store.CreateSubscription(ctx, sub); err != nil {
			if derr := s.d.Store.DeleteWebhook(context.WithoutCancel(ctx), w.ProjectID, w.ID, now); derr != nil {
				s.d.log().ErrorContext(ctx, "delete partly copied webhook", "webhook_id", w.ID, "error", derr)
			}
			if errors.Is(err, store.ErrNotFound) {
				return apierr.FailedPrecondition("subscription %s of the copied webhook names an event type that no longer exists: %v", src.ID, err)
			}
			return apierr.About("subscription", src.ID, fmt.Errorf("copy subscription: %w", err))
		}
	}
	return nil
}

// RotateWebhookSecret implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) RotateWebhookSecret(ctx context.Context, req *connect.Request[hookdv1.RotateWebhookSecretRequest]) (*connect.Response[hookdv1.RotateWebhookSecretResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	now := s.d.now()
	var w *store.Webhook
	// Like an update, a rotation writes over the version it read: it neither undoes a concurrent update nor is
	// undone by one.
	if err := updateFresh(ctx, func() (err error) {
		if _, w, err = s.load(ctx, req.Msg.GetId()); err != nil {
			return err
		}
		if err := rotateSecret(w, now); err != nil {
			return err
		}
		w.UpdateTime = now
		if err := s.d.Store.UpdateWebhook(ctx, w); err != nil {
			return s.storeError(ctx, w, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	s.d.log().InfoContext(ctx, "rotated webhook secret", "webhook_id", w.ID, "project_id", w.ProjectID, "by_key_id", p.KeyID)
	out, err := s.output(ctx, p, w, nil)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.RotateWebhookSecretResponse{Webhook: out}), nil
}

// TestWebhook implements hookdv1connect.WebhookServiceHandler.
func (s *webhookService) TestWebhook(ctx context.Context, req *connect.Request[hookdv1.TestWebhookRequest]) (*connect.Response[hookdv1.TestWebhookResponse], error) {
	if s.tester == nil {
		return nil, apierr.FailedPrecondition("test sends are not available on this server")
	}
	p, w, err := s.load(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	eventType := req.Msg.GetEventType()
	var et *store.EventType
	if err := eventTypeVisible(p, eventType); eventType != "" && err != nil {
		return nil, err
	}
	if eventType != "" {
		if et, err = s.d.Store.GetEventTypeByName(ctx, p.ProjectID, eventType); err != nil {
			return nil, apierr.About("event type", eventType, err)
		}
	}
	var payload []byte
	switch {
	case req.Msg.GetPayload() != nil:
		if payload, err = compactJSON(req.Msg.GetPayload()); err != nil {
			return nil, apierr.Invalid("payload", "cannot be encoded as JSON: %v", err)
		}
		if len(payload) > s.d.maxPayload() {
			return nil, apierr.Invalid("payload", "is %d bytes of JSON; the limit is %d", len(payload), s.d.maxPayload())
		}
		if err := schema.CheckDepth(payload); err != nil {
			return nil, apierr.Invalid("payload", "%v", err)
		}
		if et != nil && len(et.Schema) > 0 {
			sc, err := schema.Compile(et.Schema)
			if err != nil {
				return nil, fmt.Errorf("compile stored schema of event type %q: %w", eventType, err)
			}
			if err := sc.Validate(ctx, payload); err != nil {
				return nil, apierr.Invalid("payload", "does not match the schema of %q: %v", eventType, err)
			}
		}
	case et == nil:
		return nil, apierr.Invalid("event_type", "is required when no payload is given (its sample payload is sent)")
	case len(et.SamplePayload) == 0:
		return nil, apierr.Invalid("payload", "is required: event type %q has no sample payload", eventType)
	default:
		payload = et.SamplePayload
	}
	if eventType == "" {
		eventType = TestEventType
	}
	att, err := s.tester.SendTest(ctx, w, eventType, payload)
	if err != nil {
		var cerr *connect.Error
		if errors.As(err, &cerr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, apierr.FailedPrecondition("test send of webhook %s: %v", w.ID, err)
	}
	if att == nil {
		return nil, fmt.Errorf("test send of webhook %s returned no attempt", w.ID)
	}
	return connect.NewResponse(&hookdv1.TestWebhookResponse{
		StatusCode: int32(att.ResponseStatusCode), Headers: headersToProto(att.ResponseHeaders, true),
		Body: att.ResponseBody, Duration: duration(att.Duration), Error: att.Error, RequestUrl: att.RequestURL,
		RequestHeaders: headersToProto(att.RequestHeaders, p.IsAdmin()), RequestBody: att.RequestBody,
	}), nil
}

// load returns the caller and one of its project's webhooks (its tenant's, for a portal caller).
func (s *webhookService) load(ctx context.Context, webhookID string) (auth.Principal, *store.Webhook, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return p, nil, err
	}
	w, err := s.d.Store.GetWebhook(ctx, p.ProjectID, webhookID)
	if err != nil {
		return p, nil, apierr.About("webhook", webhookID, err)
	}
	if err := confine(p, "webhook", webhookID, w.TenantID); err != nil {
		return p, nil, err
	}
	return p, w, nil
}

// integration returns the integration a webhook names (nil for none); an unknown id is bad input.
func (s *webhookService) integration(ctx context.Context, projectID, integrationID string) (*store.Integration, error) {
	if integrationID == "" {
		return nil, nil
	}
	in, err := s.d.Store.GetIntegration(ctx, projectID, integrationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.Invalid("integration_id", "integration %q not found", integrationID)
	}
	return in, apierr.About("integration", integrationID, err)
}

// output converts a stored webhook for p, loading its integration (through cache when not nil) for full_url and
// effective_headers.
func (s *webhookService) output(ctx context.Context, p auth.Principal, w *store.Webhook, cache map[string]*store.Integration) (*hookdv1.Webhook, error) {
	var in *store.Integration
	if w.IntegrationID != "" {
		in = cache[w.IntegrationID]
		if in == nil {
			var err error
			if in, err = s.d.Store.GetIntegration(ctx, p.ProjectID, w.IntegrationID); err != nil {
				return nil, apierr.About("integration", w.IntegrationID, err)
			}
			if cache != nil {
				cache[w.IntegrationID] = in
			}
		}
	}
	return webhookToProto(w, in, p.IsAdmin(), s.d.now()), nil
}

// storeError maps a failed webhook write; a taken system name is already_exists naming the field.
func (s *webhookService) storeError(ctx context.Context, w *store.Webhook, err error) error {
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return connect.NewError(connect.CodeAlreadyExists,
			fmt.Errorf("system_name: %q is already used by another webhook of the project", w.SystemName))
	case errors.Is(err, store.ErrNotFound) && w.IntegrationID != "":
		// Either the webhook or its integration was deleted since they were loaded.
		if _, gerr := s.d.Store.GetIntegration(ctx, w.ProjectID, w.IntegrationID); errors.Is(gerr, store.ErrNotFound) {
			return apierr.Invalid("integration_id", "integration %q not found", w.IntegrationID)
		}
	}
	return apierr.About("webhook", w.ID, err)
}

// validate checks a webhook about to be stored; in is its integration (nil for none).
func (s *webhookService) validate(w *store.Webhook, in *store.Integration) error {
	if err := checkName("name", w.Name, maxNameLen); err != nil {
		return err
	}
	if err := checkSystemName(w.SystemName); err != nil {
		return err
	}
	if err := checkDescription("description", w.Description); err != nil {
		return err
	}
	if w.FailureThreshold < 0 || w.FailureThreshold > maxFailureThreshold {
		return apierr.Invalid("failure_threshold", "is %d; it must be between 0 (never disable) and %d", w.FailureThreshold, maxFailureThreshold)
	}
	if !slices.Contains(store.HTTPMethods, w.Method) {
		return apierr.Invalid("method", "%q is not one of %s", w.Method, strings.Join(store.HTTPMethods, ", "))
	}
	if err := checkSigningHeaders(w); err != nil {
		return err
	}
	var err error
	switch {
	case w.Transport == store.TransportListen && w.URL != "":
		err = apierr.Invalid("url", "a TRANSPORT_LISTEN webhook has no url: its requests go to `hookd listen` clients")
	case w.Transport == store.TransportListen && in != nil:
		err = apierr.Invalid("integration_id", "a TRANSPORT_LISTEN webhook has no integration")
	case w.Transport == store.TransportListen && w.Path != "" && !strings.HasPrefix(w.Path, "/"):
		err = apierr.Invalid("path", "%q must start with / (it is forwarded to the listen client's target as it is)", w.Path)
	case w.Transport == store.TransportListen:
	case w.URL != "" && w.Path != "":
		err = apierr.Invalid("path", "set either url or path, not both")
	case w.URL != "":
		err = checkTemplateURL("url", w.URL, s.d.Dev)
	case in == nil && w.Path != "":
		err = apierr.Invalid("path", "needs integration_id: the path is appended to the integration's base_url")
	case in == nil:
		err = apierr.Invalid("url", "is required (or set integration_id and path)")
	default:
		err = checkTemplateURL("path", sender.FullURL(w, in), s.d.Dev)
	}
	if err != nil {
		return err
	}
	if len(w.IntegrationHeaders) > 0 && in == nil {
		return apierr.Invalid("integration_headers", "the webhook has no integration")
	}
	seen := map[string]bool{}
	for i, ih := range w.IntegrationHeaders {
		f := fmt.Sprintf("integration_headers[%d].name", i)
		key := strings.ToLower(ih.Name)
		if seen[key] {
			return apierr.Invalid(f, "header %q is listed twice", ih.Name)
		}
		seen[key] = true
		if !slices.ContainsFunc(in.Headers, func(h store.Header) bool { return strings.EqualFold(h.Name, ih.Name) }) {
			return apierr.Invalid(f, "integration %s has no header %q", in.ID, ih.Name)
		}
	}
	if len(w.BodyTemplate) > maxTemplateLen {
		return apierr.Invalid("body_template", "is longer than %d bytes", maxTemplateLen)
	}
	body, err := render.Parse("body_template", w.BodyTemplate)
	if err != nil {
		return apierr.Invalid("body_template", "%v", err)
	}
	if w.AsyncStatus && len(w.SuccessStatusCodes) > 0 {
		return apierr.Invalid("success_status_codes", "cannot be combined with async_status, which accepts exactly 200 (DONE) and 202 (WAITING)")
	}
	if w.RetryPolicy.Kind == store.RetryIdempotent && !usesTransactionalID(w, in, body) {
		return apierr.Invalid("retry_policy.kind", "RETRY_POLICY_KIND_IDEMPOTENT retries only requests that carry the "+
			"idempotency key, but neither the URL, the headers nor the body_template of this webhook use {{.TransactionalId}} "+
			"(or "+render.MaestraTransactionalID+"): add it (e.g. ?transactionId={{.TransactionalId}} or "+
			"?transactionId="+render.MaestraTransactionalID+", a header value or a body field) or choose another retry policy")
	}
	return nil
}

// usesTransactionalID reports whether a webhook's request writes {{.TransactionalId}} (the idempotency key) in
// its URL (url, or the integration's base_url and path), a header value (its own or a used integration header)
// or its body template (body, already parsed), by walking the parsed templates.
func usesTransactionalID(w *store.Webhook, in *store.Integration, body *render.Template) bool {
	parse := func(name, text string) *render.Template {
		t, _ := render.Parse(name, text) // already validated; a template that does not parse uses nothing
		return t
	}
	if render.UsesTransactionalID(body, parse("url", sender.FullURL(w, in))) {
		return true
	}
	for _, h := range sender.Headers(w, in) {
		if render.UsesTransactionalID(parse("header "+h.Name, h.Value)) {
			return true
		}
	}
	return false
}

// maxSuccessCodes caps success_status_codes (there are 100 codes in 2xx).
const maxSuccessCodes = 100

// successCodesFromProto validates success_status_codes: distinct codes from 200 to 299 (empty = any 2xx).
func successCodesFromProto(codes []int32) ([]int, error) {
	if len(codes) == 0 {
		return nil, nil
	}
	if len(codes) > maxSuccessCodes {
		return nil, apierr.Invalid("success_status_codes", "has %d codes; at most %d", len(codes), maxSuccessCodes)
	}
	out := make([]int, 0, len(codes))
	for i, c := range codes {
		f := fmt.Sprintf("success_status_codes[%d]", i)
		switch {
		case c < 200 || c > 299:
			return nil, apierr.Invalid(f, "%d is not a 2xx status: success codes narrow the default (any 2xx), e.g. [200]", c)
		case slices.Contains(out, int(c)):
			return nil, apierr.Invalid(f, "%d is listed twice", c)
		}
		out = append(out, int(c))
	}
	return out, nil
}

// signingHeaderFields are the webhook fields that rename the signing headers.
var signingHeaderFields = []string{"signature_header", "id_header", "timestamp_header"}

// unsignableHeaders cannot carry the id, timestamp or signature: hop-by-hop headers, headers the HTTP client or
// hookd sets, and credential headers.
var unsignableHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "te": true,
	"trailer": true, "upgrade": true, "proxy-authenticate": true, "proxy-authorization": true,
	"host": true, "content-length": true, "content-type": true, "content-encoding": true, "expect": true, "date": true,
	"user-agent": true, "traceparent": true, "tracestate": true, "authorization": true, "cookie": true, "set-cookie": true,
}

// checkSigningHeaders validates the signing header names and style of w: valid header names (empty = the
// Standard Webhooks name), none hop-by-hop, set by the client or a credential header, all three distinct and none
// also one of the webhook's own headers; SIGNATURE_STYLE_HEX_BODY needs an HMAC secret.
func checkSigningHeaders(w *store.Webhook) error {
	names := []string{w.SignatureHeader, w.IDHeader, w.TimestampHeader}
	sc := signature.SchemeOf(w)
	effective := []string{sc.SignatureHeader, sc.IDHeader, sc.TimestampHeader}
	for i, n := range names {
		f := signingHeaderFields[i]
		switch {
		case n == "":
		case !isHeaderToken(n):
			return apierr.Invalid(f, "%q is not a valid HTTP header name", n)
		case len(n) > maxHeaderNameLen:
			return apierr.Invalid(f, "is longer than %d characters", maxHeaderNameLen)
		case unsignableHeaders[strings.ToLower(n)]:
			return apierr.Invalid(f, "%s is a hop-by-hop, client-set or credential header and cannot carry the signature", n)
		}
		for j := range i {
			if strings.EqualFold(effective[i], effective[j]) {
				return apierr.Invalid(f, "%s is already the %s", effective[i], strings.ReplaceAll(signingHeaderFields[j], "_", " "))
			}
		}
		if slices.ContainsFunc(w.Headers, func(h store.Header) bool { return strings.EqualFold(h.Name, effective[i]) }) {
			return apierr.Invalid(f, "%s is also one of the webhook's headers; remove it there or choose another name", effective[i])
		}
	}
	if w.SignatureStyle == store.SignatureHexBody && w.SigningAlgorithm == store.SigningEd25519 {
		return apierr.Invalid("signature_style", "SIGNATURE_STYLE_HEX_BODY is an HMAC-SHA256 of the body: it needs SIGNING_ALGORITHM_HMAC_SHA256")
	}
	return nil
}

// signatureStyleFromProto maps a signature style; UNSPECIFIED is the default, STANDARD_WEBHOOKS.
func signatureStyleFromProto(st hookdv1.SignatureStyle) (store.SignatureStyle, error) {
	switch st {
	case hookdv1.SignatureStyle_SIGNATURE_STYLE_UNSPECIFIED, hookdv1.SignatureStyle_SIGNATURE_STYLE_STANDARD_WEBHOOKS:
		return store.SignatureStandardWebhooks, nil
	case hookdv1.SignatureStyle_SIGNATURE_STYLE_HEX_BODY:
		return store.SignatureHexBody, nil
	default:
		return "", apierr.Invalid("signature_style", "%d is not a known signature style", int32(st))
	}
}

// transportFromProto maps a transport; UNSPECIFIED is the default, HTTP.
func transportFromProto(t hookdv1.Transport) (store.Transport, error) {
	switch t {
	case hookdv1.Transport_TRANSPORT_UNSPECIFIED, hookdv1.Transport_TRANSPORT_HTTP:
		return store.TransportHTTP, nil
	case hookdv1.Transport_TRANSPORT_LISTEN:
		return store.TransportListen, nil
	default:
		return "", apierr.Invalid("transport", "%d is not a known transport", int32(t))
	}
}

func transportToProto(t store.Transport) hookdv1.Transport {
	if t == store.TransportListen {
		return hookdv1.Transport_TRANSPORT_LISTEN
	}
	return hookdv1.Transport_TRANSPORT_HTTP
}

func signatureStyleToProto(st store.SignatureStyle) hookdv1.SignatureStyle {
	if st == store.SignatureHexBody {
		return hookdv1.SignatureStyle_SIGNATURE_STYLE_HEX_BODY
	}
	return hookdv1.SignatureStyle_SIGNATURE_STYLE_STANDARD_WEBHOOKS
}

// signingAlgorithmFromProto maps signing_algorithm; UNSPECIFIED means HMAC_SHA256.
func signingAlgorithmFromProto(a hookdv1.SigningAlgorithm) (store.SigningAlgorithm, error) {
	switch a {
	case hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_UNSPECIFIED, hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_HMAC_SHA256:
		return store.SigningHMACSHA256, nil
	case hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519:
		return store.SigningEd25519, nil
	default:
		return "", apierr.Invalid("signing_algorithm", "%d is not a known signing algorithm", int32(a))
	}
}

func signingAlgorithmToProto(a store.SigningAlgorithm) hookdv1.SigningAlgorithm {
	if a == store.SigningEd25519 {
		return hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519
	}
	return hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_HMAC_SHA256
}

// newSigningSecret returns a new secret for alg: a whsec_ secret (no public key) or a whsk_ private key and its
// whpk_ public key.
func newSigningSecret(alg store.SigningAlgorithm) (secret, publicKey string, err error) {
	if alg == store.SigningEd25519 {
		return signature.NewEd25519Key()
	}
	secret, err = newWebhookSecret()
	return secret, "", err
}

// rotateSecret gives w a new secret of its signing algorithm; the current one keeps signing (and its public key
// keeps verifying) for SecretOverlap.
func rotateSecret(w *store.Webhook, now time.Time) error {
	secret, public, err := newSigningSecret(w.SigningAlgorithm)
	if err != nil {
		return err
	}
	expire := now.Add(SecretOverlap)
	w.PreviousSecret, w.PreviousPublicKey, w.PreviousSecretExpireTime = w.Secret, w.PublicKey, &expire
	w.Secret, w.PublicKey = secret, public
	return nil
}

// checkSystemName checks a webhook's system name.
func checkSystemName(v string) error {
	if !systemNameRE.MatchString(v) {
		return apierr.Invalid("system_name", "%q must be 1-100 letters, digits, '_', '-' or '.'", v)
	}
	return nil
}

func integrationHeadersFromProto(in []*hookdv1.IntegrationHeader) []store.IntegrationHeader {
	if len(in) == 0 {
		return nil
	}
	out := make([]store.IntegrationHeader, 0, len(in))
	for _, ih := range in {
		out = append(out, store.IntegrationHeader{Name: strings.TrimSpace(ih.GetName()), Use: ih.GetUse()})
	}
	return out
}

// durationField converts an optional duration: absent or zero gives def; otherwise it must be in [min, max].
func durationField(field string, d *durationpb.Duration, def, min, max time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, apierr.Invalid(field, "%v", err)
	}
	v := d.AsDuration()
	if v == 0 {
		return def, nil
	}
	if v < min || v > max {
		return 0, apierr.Invalid(field, "is %v; it must be between %v and %v", v, min, max)
	}
	return v, nil
}

// retryPolicyFromProto validates a retry policy; nil or UNSPECIFIED means EXPONENTIAL with 15 retries.
func retryPolicyFromProto(rp *hookdv1.RetryPolicy) (store.RetryPolicy, error) {
	interval := rp.GetInterval()
	n := rp.GetMaxRetries()
	switch rp.GetKind() {
	case hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_UNSPECIFIED, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_EXPONENTIAL:
		if interval.AsDuration() != 0 {
			return store.RetryPolicy{}, apierr.Invalid("retry_policy.interval", "is only used by RETRY_POLICY_KIND_FIXED")
		}
		if n < 0 || n > DefaultExponentialRetries {
			return store.RetryPolicy{}, apierr.Invalid("retry_policy.max_retries", "must be between 0 (the default, %d) and %d for EXPONENTIAL",
				DefaultExponentialRetries, DefaultExponentialRetries)
		}
		if n == 0 {
			n = DefaultExponentialRetries
		}
		return store.RetryPolicy{Kind: store.RetryExponential, MaxRetries: int(n)}, nil
	case hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED:
		if interval == nil {
			return store.RetryPolicy{}, apierr.Invalid("retry_policy.interval", "is required for FIXED (%v to %v)", minFixedInterval, maxFixedInterval)
		}
		iv, err := durationField("retry_policy.interval", interval, 0, minFixedInterval, maxFixedInterval)
		if err != nil {
			return store.RetryPolicy{}, err
		}
		if iv == 0 {
			return store.RetryPolicy{}, apierr.Invalid("retry_policy.interval", "is required for FIXED (%v to %v)", minFixedInterval, maxFixedInterval)
		}
		if n < 1 || n > maxFixedRetries {
			return store.RetryPolicy{}, apierr.Invalid("retry_policy.max_retries", "must be between 1 and %d for FIXED", maxFixedRetries)
		}
		return store.RetryPolicy{Kind: store.RetryFixed, Interval: iv, MaxRetries: int(n)}, nil
	case hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_NONE:
		if interval.AsDuration() != 0 || n != 0 {
			return store.RetryPolicy{}, apierr.Invalid("retry_policy", "NONE takes no interval or max_retries")
		}
		return store.RetryPolicy{Kind: store.RetryNone}, nil
	case hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_IDEMPOTENT:
		if interval.AsDuration() != 0 || n != 0 {
			return store.RetryPolicy{}, apierr.Invalid("retry_policy", "IDEMPOTENT has a fixed schedule (retries 1, 2 and 3 minutes after the previous attempt) and takes no interval or max_retries")
		}
		return store.RetryPolicy{Kind: store.RetryIdempotent}, nil
	default:
		return store.RetryPolicy{}, apierr.Invalid("retry_policy.kind", "%d is not a known retry policy kind", int32(rp.GetKind()))
	}
}

func retryPolicyToProto(rp store.RetryPolicy) *hookdv1.RetryPolicy {
	out := &hookdv1.RetryPolicy{Interval: duration(rp.Interval), MaxRetries: int32(rp.MaxRetries)}
	switch rp.Kind {
	case store.RetryExponential:
		out.Kind = hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_EXPONENTIAL
	case store.RetryFixed:
		out.Kind = hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED
	case store.RetryNone:
		out.Kind = hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_NONE
	case store.RetryIdempotent:
		out.Kind = hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_IDEMPOTENT
	}
	return out
}

// webhookToProto converts a webhook at now (in is its integration, for full_url); the secret and private header
// values are masked unless reveal. Public keys are shown to every role, the previous one while it still signs.
func webhookToProto(w *store.Webhook, in *store.Integration, reveal bool, now time.Time) *hookdv1.Webhook {
	sec := w.Secret
	if !reveal && sec != "" {
		sec = secret.Masked
	}
	scheme := signature.SchemeOf(w)
	ihs := make([]*hookdv1.IntegrationHeader, 0, len(w.IntegrationHeaders))
	for _, ih := range w.IntegrationHeaders {
		ihs = append(ihs, &hookdv1.IntegrationHeader{Name: ih.Name, Use: ih.Use})
	}
	return &hookdv1.Webhook{
		Id: w.ID, CreateTime: timestamp(w.CreateTime), UpdateTime: timestamp(w.UpdateTime), IntegrationId: w.IntegrationID,
		Name: w.Name, SystemName: w.SystemName, Description: w.Description, Method: w.Method, Url: w.URL, Path: w.Path,
		FullUrl: sender.FullURL(w, in), IntegrationHeaders: ihs, Headers: headersToProto(w.Headers, reveal),
		EffectiveHeaders: headersToProto(sender.Headers(w, in), reveal),
		BodyTemplate:     w.BodyTemplate, RetryPolicy: retryPolicyToProto(w.RetryPolicy), Timeout: duration(w.Timeout),
		AsyncStatus: w.AsyncStatus, AsyncTimeout: duration(w.AsyncTimeout), Enabled: w.Enabled, Secret: sec,
		PreviousSecretExpireTime: timestampPtr(w.PreviousSecretExpireTime),
		SuccessStatusCodes:       successCodesToProto(w.SuccessStatusCodes), SigningAlgorithm: signingAlgorithmToProto(w.SigningAlgorithm),
		PublicKey: w.PublicKey, PreviousPublicKey: previousPublicKey(w, now), SendTraceparent: !w.NoTraceparent,
		SignatureHeader: scheme.SignatureHeader, IdHeader: scheme.IDHeader, TimestampHeader: scheme.TimestampHeader,
		SignatureStyle: signatureStyleToProto(w.SignatureStyle), Transport: transportToProto(w.Transport),
		FailureThreshold: int32(w.FailureThreshold), ConsecutiveFailures: int32(w.ConsecutiveFailures),
		DisabledReason: w.DisabledReason, DisableTime: timestampPtr(w.DisableTime), TenantId: w.TenantID,
		Ordered: w.Ordered,
	}
}

// webhookStatsToProto converts statistics; the latency percentiles are read from the histogram (the upper bound
// of the bucket the percentile falls in; attempts beyond the last bound count as the webhook timeout maximum).
func webhookStatsToProto(st *store.WebhookStats) *hookdv1.WebhookStats {
	out := &hookdv1.WebhookStats{
		Window: duration(st.Window), Done: st.Done, Failed: st.Failed, Cancelled: st.Cancelled, Attempts: st.Attempts,
		Queued: st.Queued, Retrying: st.Retrying, Waiting: st.Waiting,
		LastSuccessTime: timestampPtr(st.LastSuccessTime), LastFailureTime: timestampPtr(st.LastFailureTime),
		ConsecutiveFailures: int32(st.ConsecutiveFailedAttempts), FailedAttempts: st.FailedAttempts,
	}
	if st.Attempts > 0 {
		out.AttemptFailureRate = float64(st.FailedAttempts) / float64(st.Attempts)
	}
	if st.Done+st.Failed > 0 {
		out.SuccessRate = float64(st.Done) / float64(st.Done+st.Failed)
	}
	if st.Attempts > 0 {
		out.LatencyP50 = duration(latencyPercentile(st.Latency, 0.50))
		out.LatencyP95 = duration(latencyPercentile(st.Latency, 0.95))
		out.LatencyP99 = duration(latencyPercentile(st.Latency, 0.99))
	}
	return out
}

// latencyPercentile is the upper bound of the histogram bucket holding the q-th attempt duration.
func latencyPercentile(hist []int64, q float64) time.Duration {
	var total int64
	for _, n := range hist {
		total += n
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range hist {
		seen += n
		if seen >= rank && n > 0 {
			if i < len(store.LatencyBounds) {
				return store.LatencyBounds[i]
			}
			break
		}
	}
	return sender.DefaultTimeout
}

// previousPublicKey is the public key of the previous secret while it still signs (during a rotation).
func previousPublicKey(w *store.Webhook, now time.Time) string {
	if w.PreviousSecretExpireTime == nil || !now.Before(*w.PreviousSecretExpireTime) {
		return ""
	}
	return w.PreviousPublicKey
}

func successCodesToProto(codes []int) []int32 {
	if len(codes) == 0 {
		return nil
	}
	out := make([]int32, len(codes))
	for i, c := range codes {
		out[i] = int32(c)
	}
	return out
}
