package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/store"
)

// NewDeliveryService returns the DeliveryService handler: the delivery log, the queue view, manual and bulk
// retries, cancellation and exports.
func NewDeliveryService(d Deps) hookdv1connect.DeliveryServiceHandler {
	return &deliveryService{d: d, watches: &keySlots{}}
}

type deliveryService struct {
	d Deps
	// watches counts each key's open WatchDeliveries streams.
	watches *keySlots
}

// ListDeliveries implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) ListDeliveries(ctx context.Context, req *connect.Request[hookdv1.ListDeliveriesRequest]) (*connect.Response[hookdv1.ListDeliveriesResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	f, err := deliveryFilter(req.Msg.GetFilter(), req.Msg.GetQueue())
	if err != nil {
		return nil, err
	}
	if req.Msg.GetBlocked() && !req.Msg.GetQueue() {
		return nil, apierr.Invalid("blocked", "needs queue: blocked lists the heads of blocked keys in the queue view")
	}
	if req.Msg.GetQueue() && page.After != "" && !isQueueCursor(page.After) {
		// The store would fail on it with an internal error; a token of the plain list is the caller's mistake.
		return nil, apierr.Invalid("page_token", "is not a token returned by this list (queue view)")
	}
	if f.TenantID, err = tenantFilter(p, "filter.tenant_id", f.TenantID); err != nil {
		return nil, err
	}
	ds, err := s.d.Store.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: p.ProjectID, Filter: f, Queue: req.Msg.GetQueue(),
		Blocked: req.Msg.GetBlocked(), Page: page})
	if err != nil {
		return nil, apierr.FromStore(ctx, s.d.log(), "deliveries", "", err)
	}
	cursor := func(d store.Delivery) string { return d.ID }
	if req.Msg.GetQueue() {
		cursor = func(d store.Delivery) string { return fmt.Sprintf("%d/%s", d.NextAttemptTime.UnixNano(), d.ID) }
	}
	ds, next := pagination.Trim(ds, page, cursor)
	names, err := loadTargetNames(ctx, s.d.Store, p.ProjectID, ds...)
	if err != nil {
		return nil, apierr.FromStore(ctx, s.d.log(), "deliveries", "", err)
	}
	out := &hookdv1.ListDeliveriesResponse{Deliveries: make([]*hookdv1.Delivery, 0, len(ds)), NextPageToken: next}
	for i := range ds {
		out.Deliveries = append(out.Deliveries, names.fill(deliveryToProto(&ds[i])))
	}
	return connect.NewResponse(out), nil
}

// GetDelivery implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) GetDelivery(ctx context.Context, req *connect.Request[hookdv1.GetDeliveryRequest]) (*connect.Response[hookdv1.GetDeliveryResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetId() == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	d, err := s.d.Store.GetDelivery(ctx, p.ProjectID, req.Msg.GetId())
	if err != nil {
		return nil, apierr.FromStore(ctx, s.d.log(), "delivery", req.Msg.GetId(), err)
	}
	if err := confine(p, "delivery", d.ID, d.TenantID); err != nil {
		return nil, err
	}
	atts, err := s.d.Store.ListAttempts(ctx, p.ProjectID, d.ID)
	if err != nil {
		return nil, apierr.FromStore(ctx, s.d.log(), "delivery", d.ID, err)
	}
	out, err := s.withNames(ctx, p.ProjectID, d)
	if err != nil {
		return nil, err
	}
	for i := range atts {
		out.AttemptList = append(out.AttemptList, attemptToProto(&atts[i], p.IsAdmin()))
	}
	return connect.NewResponse(&hookdv1.GetDeliveryResponse{Delivery: out}), nil
}

// RetryDelivery implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) RetryDelivery(ctx context.Context, req *connect.Request[hookdv1.RetryDeliveryRequest]) (*connect.Response[hookdv1.RetryDeliveryResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetId() == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	if p.Portal != nil {
		d, err := s.d.Store.GetDelivery(ctx, p.ProjectID, req.Msg.GetId())
		if err != nil {
			return nil, apierr.FromStore(ctx, s.d.log(), "delivery", req.Msg.GetId(), err)
		}
		if err := confine(p, "delivery", d.ID, d.TenantID); err != nil {
			return nil, err
		}
	}
	d, err := s.d.Store.RetryDelivery(ctx, p.ProjectID, req.Msg.GetId(), s.d.now())
	if err != nil {
		return nil, stateError(ctx, s.d, "delivery", req.Msg.GetId(), "only a DONE or FAILED delivery can be resent, or a QUEUED or RETRYING one not in flight sent now", err)
	}
	out, err := s.withNames(ctx, p.ProjectID, d)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.RetryDeliveryResponse{Delivery: out}), nil
}

// RetryDeliveries implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) RetryDeliveries(ctx context.Context, req *connect.Request[hookdv1.RetryDeliveriesRequest]) (*connect.Response[hookdv1.RetryDeliveriesResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetFilter() == nil {
		return nil, apierr.Invalid("filter", "is required (e.g. statuses [DELIVERY_STATUS_FAILED] and a webhook_id); to resend everything pass an explicit status")
	}
	f, err := deliveryFilter(req.Msg.GetFilter(), false)
	if err != nil {
		return nil, err
	}
	if f.IsEmpty() {
		return nil, apierr.Invalid("filter", "is empty: name what to resend (e.g. statuses [DELIVERY_STATUS_FAILED] and a webhook_id); to resend everything pass the statuses explicitly")
	}
	if f.TenantID, err = tenantFilter(p, "filter.tenant_id", f.TenantID); err != nil {
		return nil, err
	}
	for _, st := range f.Statuses {
		if st != store.StatusDone && st != store.StatusFailed {
			return nil, apierr.Invalid("filter.statuses", "only DONE and FAILED deliveries can be resent, got %s", statusToProto(st))
		}
	}
	n, err := s.d.Store.RetryDeliveries(ctx, p.ProjectID, f, s.d.now())
	if err != nil {
		return nil, apierr.FromStore(ctx, s.d.log(), "deliveries", "", err)
	}
	return connect.NewResponse(&hookdv1.RetryDeliveriesResponse{Count: int32(n)}), nil
}

// CancelDelivery implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) CancelDelivery(ctx context.Context, req *connect.Request[hookdv1.CancelDeliveryRequest]) (*connect.Response[hookdv1.CancelDeliveryResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetId() == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	d, err := s.d.Store.CancelDelivery(ctx, p.ProjectID, req.Msg.GetId(), s.d.now())
	if err != nil {
		return nil, stateError(ctx, s.d, "delivery", req.Msg.GetId(), "only a QUEUED, RETRYING or WAITING delivery can be cancelled", err)
	}
	out, err := s.withNames(ctx, p.ProjectID, d)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.CancelDeliveryResponse{Delivery: out}), nil
}

// ExportDeliveries implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) ExportDeliveries(ctx context.Context, req *connect.Request[hookdv1.ExportDeliveriesRequest], stream *connect.ServerStream[hookdv1.ExportDeliveriesResponse]) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	format, err := exportFormat(req.Msg.GetFormat())
	if err != nil {
		return err
	}
	f, err := deliveryFilter(req.Msg.GetFilter(), false)
	if err != nil {
		return err
	}
	if f.TenantID, err = tenantFilter(p, "filter.tenant_id", f.TenantID); err != nil {
		return err
	}
	w := &streamWriter{send: func(b []byte) error {
		return stream.Send(&hookdv1.ExportDeliveriesResponse{Data: b})
	}}
	if err := export(ctx, s.d.Store, p.ProjectID, f, format, w); err != nil {
		return apierr.FromStore(ctx, s.d.log(), "deliveries", "", err)
	}
	return w.flush()
}

// withNames converts one delivery with the current names of its webhook and integration.
func (s *deliveryService) withNames(ctx context.Context, projectID string, d *store.Delivery) (*hookdv1.Delivery, error) {
	names, err := loadTargetNames(ctx, s.d.Store, projectID, *d)
	if err != nil {
		return nil, apierr.FromStore(ctx, s.d.log(), "delivery", d.ID, err)
	}
	return names.fill(deliveryToProto(d)), nil
}

// targetNames are the current names of the webhooks and integrations of a page of deliveries, by id: the
// queue's "Trusted Site" column (product document 002). A deleted target has no name.
type targetNames struct {
	webhooks, integrations map[string]string
}

// loadTargetNames reads the names of the deliveries' webhooks and integrations: one store call for each, per page.
func loadTargetNames(ctx context.Context, st store.Store, projectID string, ds ...store.Delivery) (targetNames, error) {
	if len(ds) == 0 {
		return targetNames{}, nil
	}
	webhookIDs := make([]string, 0, len(ds))
	integrationIDs := make([]string, 0, len(ds))
	for i := range ds {
		webhookIDs = append(webhookIDs, ds[i].WebhookID)
		if ds[i].IntegrationID != "" {
			integrationIDs = append(integrationIDs, ds[i].IntegrationID)
		}
	}
	var n targetNames
	var err error
	if n.webhooks, err = st.WebhookNames(ctx, projectID, webhookIDs); err != nil {
		return n, fmt.Errorf("load webhook names: %w", err)
	}
	if len(integrationIDs) > 0 {
		if n.integrations, err = st.IntegrationNames(ctx, projectID, integrationIDs); err != nil {
			return n, fmt.Errorf("load integration names: %w", err)
		}
	}
	return n, nil
}

// fill sets the names of d's webhook and integration and returns d.
func (n targetNames) fill(d *hookdv1.Delivery) *hookdv1.Delivery {
	d.WebhookName, d.IntegrationName = n.webhooks[d.GetWebhookId()], n.integrations[d.GetIntegrationId()]
	return d
}

// isQueueCursor reports whether c is a queue view cursor: "<unix nanos of next attempt>/<delivery id>".
func isQueueCursor(c string) bool {
	nanos, deliveryID, ok := strings.Cut(c, "/")
	_, err := strconv.ParseInt(nanos, 10, 64)
	return ok && err == nil && id.HasPrefix(deliveryID, id.Delivery)
}

// stateError maps ErrConflict to failed_precondition with an explanation.
func stateError(ctx context.Context, d Deps, kind, id, why string, err error) error {
	if errorsIsConflict(err) {
		return apierr.FailedPrecondition("%s %q: %s", kind, id, why)
	}
	return apierr.FromStore(ctx, d.log(), kind, id, err)
}

// deliveryFilter validates a filter; queue=true restricts statuses to the queue's.
func deliveryFilter(f *hookdv1.DeliveryFilter, queue bool) (store.DeliveryFilter, error) {
	out := store.DeliveryFilter{
		WebhookID: f.GetWebhookId(), IntegrationID: f.GetIntegrationId(), EventType: f.GetEventType(),
		Subject: f.GetSubject(), EventID: f.GetEventId(), TenantID: f.GetTenantId(),
		CreateAfter: fromTimestamp(f.GetCreateTimeAfter()), CreateBefore: fromTimestamp(f.GetCreateTimeBefore()),
	}
	for i, st := range f.GetStatuses() {
		s, ok := statusFromProto(st)
		if !ok {
			return out, apierr.Invalid(fmt.Sprintf("filter.statuses[%d]", i), "%v is not a delivery status", st)
		}
		if queue && s != store.StatusQueued && s != store.StatusRetrying && s != store.StatusWaiting {
			return out, apierr.Invalid(fmt.Sprintf("filter.statuses[%d]", i), "the queue view holds only QUEUED, RETRYING and WAITING deliveries")
		}
		out.Statuses = append(out.Statuses, s)
	}
	if !out.CreateAfter.IsZero() && !out.CreateBefore.IsZero() && !out.CreateAfter.Before(out.CreateBefore) {
		return out, apierr.Invalid("filter.create_time_after", "must be before filter.create_time_before")
	}
	return out, checkTenantID("filter.tenant_id", out.TenantID)
}

var statusByProto = map[hookdv1.DeliveryStatus]store.Status{
	hookdv1.DeliveryStatus_DELIVERY_STATUS_QUEUED:    store.StatusQueued,
	hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING:  store.StatusRetrying,
	hookdv1.DeliveryStatus_DELIVERY_STATUS_WAITING:   store.StatusWaiting,
	hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE:      store.StatusDone,
	hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED:    store.StatusFailed,
	hookdv1.DeliveryStatus_DELIVERY_STATUS_CANCELLED: store.StatusCancelled,
}

func statusFromProto(s hookdv1.DeliveryStatus) (store.Status, bool) {
	st, ok := statusByProto[s]
	return st, ok
}

func statusToProto(s store.Status) hookdv1.DeliveryStatus {
	for p, st := range statusByProto {
		if st == s {
			return p
		}
	}
	return hookdv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED
}

func deliveryToProto(d *store.Delivery) *hookdv1.Delivery {
	out := &hookdv1.Delivery{
		Id: d.ID, CreateTime: timestamp(d.CreateTime), UpdateTime: timestamp(d.UpdateTime), EventId: d.EventID,
		WebhookId: d.WebhookID, IntegrationId: d.IntegrationID, EventType: d.EventType, Subject: d.Subject,
		Status: statusToProto(d.Status), Attempts: int32(d.Attempts), LastStatusCode: int32(d.LastStatusCode),
		Reason: d.Reason, Resent: d.Resent, Retries: int32(retries(d.Attempts)), TenantId: d.TenantID, OrderingKey: d.OrderingKey,
		BlockedBy: d.BlockedBy,
	}
	if d.Status == store.StatusQueued || d.Status == store.StatusRetrying || d.Status == store.StatusWaiting {
		out.NextAttemptTime = timestamp(d.NextAttemptTime)
	}
	return out
}

// retries is the number of attempts after the first (the queue's "Retries" column).
func retries(attempts int) int { return max(attempts-1, 0) }

func attemptToProto(a *store.Attempt, reveal bool) *hookdv1.Attempt {
	return &hookdv1.Attempt{
		Number: int32(a.Number), StartTime: timestamp(a.StartTime), Duration: duration(a.Duration),
		RequestMethod: a.RequestMethod, RequestUrl: a.RequestURL, RequestHeaders: headersToProto(a.RequestHeaders, reveal),
		RequestBody: a.RequestBody, ResponseStatusCode: int32(a.ResponseStatusCode),
		ResponseHeaders: headersToProto(a.ResponseHeaders, true), ResponseBody: a.ResponseBody, Error: a.Error,
		PayloadExpired: a.PayloadExpired,
	}
}
