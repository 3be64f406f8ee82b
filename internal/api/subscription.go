package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/filter"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/store"
)

// Subscription limits.
const (
	// AllEventTypes in a subscription's event_types matches every event type.
	AllEventTypes      = "*"
	maxSubscribedTypes = 100
)

// NewSubscriptionService returns the SubscriptionService handler.
func NewSubscriptionService(d Deps) hookdv1connect.SubscriptionServiceHandler {
	return &subscriptionService{d: d}
}

type subscriptionService struct{ d Deps }

// CreateSubscription implements hookdv1connect.SubscriptionServiceHandler.
func (s *subscriptionService) CreateSubscription(ctx context.Context, req *connect.Request[hookdv1.CreateSubscriptionRequest]) (*connect.Response[hookdv1.CreateSubscriptionResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.GetWebhookId() == "" {
		return nil, apierr.Invalid("webhook_id", "is required")
	}
	w, err := s.d.Store.GetWebhook(ctx, p.ProjectID, m.GetWebhookId())
	if err == nil && p.Portal != nil && w.TenantID != p.TenantID() {
		err = store.ErrNotFound // another tenant's webhook is unknown to a portal token
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) && p.Portal != nil {
			return nil, apierr.About("webhook", m.GetWebhookId(), err) // not_found: unknown and another tenant's alike
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.Invalid("webhook_id", "webhook %q not found", m.GetWebhookId())
		}
		return nil, apierr.About("webhook", m.GetWebhookId(), err)
	}
	types, err := s.eventTypes(ctx, p, m.GetEventTypes())
	if err != nil {
		return nil, err
	}
	if err := checkSubjectFilter(m.GetSubjectFilter()); err != nil {
		return nil, err
	}
	if err := checkFilter(m.GetFilter()); err != nil {
		return nil, err
	}
	now := s.d.now()
	sub := &store.Subscription{
		ID: id.New(id.Subscription, now), ProjectID: p.ProjectID, WebhookID: m.GetWebhookId(), EventTypes: types,
		SubjectFilter: m.GetSubjectFilter(), Filter: m.GetFilter(), Enabled: true, CreateTime: now, UpdateTime: now,
	}
	if m.Enabled != nil {
		sub.Enabled = m.GetEnabled()
	}
	if err := s.d.Quotas.Check(ctx, s.d.Store, p.ProjectID, store.KindSubscription); err != nil {
		return nil, err
	}
	if err := s.d.Store.CreateSubscription(ctx, sub); err != nil {
		return nil, s.storeError(ctx, sub, true, err)
	}
	return connect.NewResponse(&hookdv1.CreateSubscriptionResponse{Subscription: subscriptionToProto(sub)}), nil
}

// GetSubscription implements hookdv1connect.SubscriptionServiceHandler.
func (s *subscriptionService) GetSubscription(ctx context.Context, req *connect.Request[hookdv1.GetSubscriptionRequest]) (*connect.Response[hookdv1.GetSubscriptionResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	sub, err := s.get(ctx, p, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.GetSubscriptionResponse{Subscription: subscriptionToProto(sub)}), nil
}

// ListSubscriptions implements hookdv1connect.SubscriptionServiceHandler.
func (s *subscriptionService) ListSubscriptions(ctx context.Context, req *connect.Request[hookdv1.ListSubscriptionsRequest]) (*connect.Response[hookdv1.ListSubscriptionsResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	f := store.SubscriptionFilter{WebhookID: req.Msg.GetWebhookId(), EventType: req.Msg.GetEventType()}
	if p.Portal != nil {
		f.TenantID = p.TenantID()
	}
	subs, err := s.d.Store.ListSubscriptions(ctx, p.ProjectID, f, page)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	subs, next := pagination.Trim(subs, page, func(x store.Subscription) string { return x.ID })
	out := &hookdv1.ListSubscriptionsResponse{Subscriptions: make([]*hookdv1.Subscription, 0, len(subs)), NextPageToken: next}
	for i := range subs {
		out.Subscriptions = append(out.Subscriptions, subscriptionToProto(&subs[i]))
	}
	return connect.NewResponse(out), nil
}

// UpdateSubscription implements hookdv1connect.SubscriptionServiceHandler. The change is applied to the
// subscription as it is when written (updateFresh).
func (s *subscriptionService) UpdateSubscription(ctx context.Context, req *connect.Request[hookdv1.UpdateSubscriptionRequest]) (*connect.Response[hookdv1.UpdateSubscriptionResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	sub, err := updated(ctx, func() (*store.Subscription, error) { return s.update(ctx, p, req.Msg) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.UpdateSubscriptionResponse{Subscription: subscriptionToProto(sub)}), nil
}

// update reads the subscription, applies m and writes it over the version read.
func (s *subscriptionService) update(ctx context.Context, p auth.Principal, m *hookdv1.UpdateSubscriptionRequest) (*store.Subscription, error) {
	sub, err := s.get(ctx, p, m.GetId())
	if err != nil {
		return nil, err
	}
	if m.EventTypes != nil {
		if sub.EventTypes, err = s.eventTypes(ctx, p, m.GetEventTypes().GetValues()); err != nil {
			return nil, err
		}
	}
	if m.SubjectFilter != nil {
		if err := checkSubjectFilter(m.GetSubjectFilter()); err != nil {
			return nil, err
		}
		sub.SubjectFilter = m.GetSubjectFilter()
	}
	if m.Filter != nil {
		if err := checkFilter(m.GetFilter()); err != nil {
			return nil, err
		}
		sub.Filter = m.GetFilter()
	}
	if m.Enabled != nil {
		sub.Enabled = m.GetEnabled()
	}
	sub.UpdateTime = s.d.now()
	if err := s.d.Store.UpdateSubscription(ctx, sub); err != nil {
		return nil, s.storeError(ctx, sub, false, err)
	}
	return sub, nil
}

// DeleteSubscription implements hookdv1connect.SubscriptionServiceHandler.
func (s *subscriptionService) DeleteSubscription(ctx context.Context, req *connect.Request[hookdv1.DeleteSubscriptionRequest]) (*connect.Response[hookdv1.DeleteSubscriptionResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Portal != nil {
		if _, err := s.get(ctx, p, req.Msg.GetId()); err != nil {
			return nil, err
		}
	}
	if err := s.d.Store.DeleteSubscription(ctx, p.ProjectID, req.Msg.GetId()); err != nil {
		return nil, apierr.About("subscription", req.Msg.GetId(), err)
	}
	return connect.NewResponse(&hookdv1.DeleteSubscriptionResponse{}), nil
}

// get returns a subscription of the project; for a portal caller, only one of its tenant's webhooks.
func (s *subscriptionService) get(ctx context.Context, p auth.Principal, subscriptionID string) (*store.Subscription, error) {
	sub, err := s.d.Store.GetSubscription(ctx, p.ProjectID, subscriptionID)
	if err != nil {
		return nil, apierr.About("subscription", subscriptionID, err)
	}
	if p.Portal != nil {
		w, err := s.d.Store.GetWebhook(ctx, p.ProjectID, sub.WebhookID)
		if err != nil {
			return nil, apierr.About("subscription", subscriptionID, err)
		}
		if err := confine(p, "subscription", subscriptionID, w.TenantID); err != nil {
			return nil, err
		}
	}
	return sub, nil
}

// eventTypes validates a subscription's event types: at least one, each "*" or an existing name; repeats dropped.
// A portal caller names only types of its session's allow-list ("*" only when the session has none: every
// non-operational type).
func (s *subscriptionService) eventTypes(ctx context.Context, p auth.Principal, names []string) ([]string, error) {
	projectID := p.ProjectID
	if len(names) == 0 {
		return nil, apierr.Invalid("event_types", "needs at least one event type name (or %q for all)", AllEventTypes)
	}
	if len(names) > maxSubscribedTypes {
		return nil, apierr.Invalid("event_types", "has %d entries; the limit is %d", len(names), maxSubscribedTypes)
	}
	out := make([]string, 0, len(names))
	for i, n := range names {
		if slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
		if n == AllEventTypes {
			if p.Portal != nil && len(p.Portal.EventTypes) > 0 {
				return nil, apierr.Invalid(fmt.Sprintf("event_types[%d]", i), "name the event types: this session allows only %v", p.Portal.EventTypes)
			}
			continue
		}
		if n == "" {
			return nil, apierr.Invalid(fmt.Sprintf("event_types[%d]", i), "is empty")
		}
		if p.Portal != nil && !p.Portal.AllowsEventType(n) {
			return nil, apierr.Invalid(fmt.Sprintf("event_types[%d]", i), "event type %q does not exist", n)
		}
		_, err := s.d.Store.GetEventTypeByName(ctx, projectID, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.Invalid(fmt.Sprintf("event_types[%d]", i), "event type %q does not exist; create it first", n)
		}
		if err != nil {
			return nil, apierr.About("event type", n, err)
		}
	}
	return out, nil
}

// storeError maps a failed subscription write: a webhook or event type deleted since validation is bad input
// (unless, on update, the subscription itself is gone).
func (s *subscriptionService) storeError(ctx context.Context, sub *store.Subscription, creating bool, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		gone := creating
		if !gone {
			_, gerr := s.d.Store.GetSubscription(ctx, sub.ProjectID, sub.ID)
			gone = gerr == nil
		}
		if gone {
			return apierr.Invalid("event_types", "the webhook or an event type no longer exists: %v", err)
		}
	}
	return apierr.About("subscription", sub.ID, err)
}

// checkSubjectFilter checks a subject filter: a subject (at most store.MaxSubjectLen bytes of UTF-8) or empty.
func checkSubjectFilter(v string) error {
	if len(v) > store.MaxSubjectLen {
		return apierr.Invalid("subject_filter", "is longer than %d bytes", store.MaxSubjectLen)
	}
	if !utf8.ValidString(v) {
		return apierr.Invalid("subject_filter", "is not valid UTF-8")
	}
	return nil
}

func subscriptionToProto(sub *store.Subscription) *hookdv1.Subscription {
	return &hookdv1.Subscription{
		Id: sub.ID, CreateTime: timestamp(sub.CreateTime), UpdateTime: timestamp(sub.UpdateTime), WebhookId: sub.WebhookID,
		EventTypes: slices.Clone(sub.EventTypes), SubjectFilter: sub.SubjectFilter, Filter: sub.Filter, Enabled: sub.Enabled,
	}
}

// checkFilter compiles and cost-checks a subscription filter (empty: none); errors carry CEL's message.
func checkFilter(text string) error {
	if text == "" {
		return nil
	}
	if _, err := filter.Compile(text); err != nil {
		return apierr.Invalid("filter", "%v", err)
	}
	return nil
}

// TestSubscriptionFilter implements hookdv1connect.SubscriptionServiceHandler.
// It saves nothing: a filter that does not compile, is too costly or fails on the sample event is answered with
// matched false and CEL's message in error (the console shows it as the user types).
func (s *subscriptionService) TestSubscriptionFilter(ctx context.Context, req *connect.Request[hookdv1.TestSubscriptionFilterRequest]) (*connect.Response[hookdv1.TestSubscriptionFilterResponse], error) {
	if _, err := auth.Caller(ctx); err != nil {
		return nil, err
	}
	m := req.Msg
	payload, err := structToJSON("payload", m.GetPayload())
	if err != nil {
		return nil, err
	}
	if m.GetFilter() == "" {
		return connect.NewResponse(&hookdv1.TestSubscriptionFilterResponse{Matched: true}), nil
	}
	out := &hookdv1.TestSubscriptionFilterResponse{}
	prg, err := filter.Compile(m.GetFilter())
	if err == nil {
		out.Matched, err = prg.Match(filter.Event{Type: m.GetEventType(), Subject: m.GetSubject(), TenantID: m.GetTenantId(),
			Data: filter.Decode(payload)})
	}
	if err != nil {
		out.Error = err.Error()
	}
	return connect.NewResponse(out), nil
}
