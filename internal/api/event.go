package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/groupcommit"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/tracing"
)

// Publishing limits and defaults.
const (
	// MaxBatch is the most events one PublishEvents call takes.
	MaxBatch          = 1000
	maxKeyLen         = 256
	eventTypeCacheTTL = 2 * time.Second
)

// EventConfig tunes EventService.
type EventConfig struct {
	// Registerer receives hookd_published_events_total (nil: not registered).
	Registerer prometheus.Registerer
	// Batch tunes the group commit of PublishEvent calls (zero fields: the groupcommit defaults; Log: Deps.Log).
	// WriteAlone is always on: a call that finds no batch under way writes at once in its own goroutine.
	Batch groupcommit.Config
}

// NewEventService returns the EventService handler. Concurrent PublishEvent calls share transactions (group
// commit, one per project and batch) written by goroutines that start on demand and exit when idle; a call that
// finds no batch under way writes alone.
func NewEventService(d Deps, cfg EventConfig) hookdv1connect.EventServiceHandler {
	published := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookd_published_events_total", Help: "Events accepted by PublishEvent(s), duplicates excluded.",
	})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(published)
	}
	s := &eventService{d: d, maxPayload: d.maxPayload(), published: published,
		types: cache.New[typeKey, *schema.Schema](eventTypeCacheTTL, 0, d.Clock)}
	cfg.Batch.Log = cmp.Or(cfg.Batch.Log, d.log())
	cfg.Batch.Name = cmp.Or(cfg.Batch.Name, "api: publish event")
	cfg.Batch.WriteAlone = true
	s.batch = groupcommit.New(cfg.Batch, s.publishBatch)
	return s
}

type eventService struct {
	d          Deps
	maxPayload int
	published  prometheus.Counter
	// batch publishes the events of concurrent PublishEvent calls in shared transactions.
	batch *groupcommit.Batcher[*publishCall, store.PublishResult]
	// types keeps event types' compiled schemas (nil = none) briefly, to spare a query per publish.
	types *cache.TTL[typeKey, *schema.Schema]
}

type typeKey struct{ project, name string }

// PublishEvent implements hookdv1connect.EventServiceHandler.
func (s *eventService) PublishEvent(ctx context.Context, req *connect.Request[hookdv1.PublishEventRequest]) (*connect.Response[hookdv1.PublishEventResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.input(ctx, p.ProjectID, "", req.Msg)
	if err != nil {
		return nil, err
	}
	// Published with concurrent calls in a shared transaction; once queued it is published even if ctx ends.
	res, err := s.batch.Do(ctx, &publishCall{projectID: p.ProjectID, in: in})
	if err != nil {
		return nil, s.publishError(ctx, err)
	}
	tracing.Annotate(ctx, tracing.KeyEventID.String(res.Event.ID))
	return connect.NewResponse(publishResult(res, req.Msg)), nil
}

// publishCall is one PublishEvent call waiting for its batch.
type publishCall struct {
	projectID string
	in        store.PublishInput
	// stored is the result once the call's project committed: a batch that failed in another project is retried
	// call by call, and must not publish this event again.
	stored *store.PublishResult
}

// publishBatch is the groupcommit.WriteFunc of PublishEvent: it calls PublishEvents (one transaction) once per
// project, in order of arrival, with the calls not stored yet, and returns the results in input order.
// Idempotency keys repeated within a project's calls are handled by PublishEvents: later calls get Duplicate.
// Events are counted here, when committed, so that those of callers that gave up meanwhile count too.
func (s *eventService) publishBatch(ctx context.Context, calls []*publishCall) ([]store.PublishResult, error) {
	var projects []string
	byProject := map[string][]*publishCall{}
	for _, c := range calls {
		if c.stored != nil {
			continue
		}
		if _, ok := byProject[c.projectID]; !ok {
			projects = append(projects, c.projectID)
		}
		byProject[c.projectID] = append(byProject[c.projectID], c)
	}
	now := s.d.now()
	var errs []error
	for _, pid := range projects {
		group := byProject[pid]
		ins := make([]store.PublishInput, len(group))
		for i, c := range group {
			ins[i] = c.in
		}
		res, err := s.d.Store.PublishEvents(ctx, store.PublishEventsParams{ProjectID: pid, Events: ins, Now: now, IdempotencyWindow: store.IdempotencyWindow})
		if err != nil {
			errs = append(errs, err) // the other projects' transactions go on: their calls are done
			continue
		}
		s.count(res)
		for i, c := range group {
			c.stored = &res[i]
		}
	}
	switch len(errs) {
	case 0:
	case 1:
		return nil, errs[0] // as the store returned it: publishError maps it as for a direct call
	default:
		return nil, errors.Join(errs...)
	}
	out := make([]store.PublishResult, len(calls))
	for i, c := range calls {
		out[i] = *c.stored
	}
	return out, nil
}

// PublishEvents implements hookdv1connect.EventServiceHandler.
func (s *eventService) PublishEvents(ctx context.Context, req *connect.Request[hookdv1.PublishEventsRequest]) (*connect.Response[hookdv1.PublishEventsResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	switch n := len(req.Msg.GetEvents()); {
	case n == 0:
		return nil, apierr.Invalid("events", "must not be empty")
	case n > MaxBatch:
		return nil, apierr.Invalid("events", "has %d events; at most %d per call", n, MaxBatch)
	}
	ins := make([]store.PublishInput, 0, len(req.Msg.GetEvents()))
	for i, e := range req.Msg.GetEvents() {
		in, err := s.input(ctx, p.ProjectID, fmt.Sprintf("events[%d].", i), e)
		if err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	res, err := s.d.Store.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ProjectID, Events: ins, Now: s.d.now(), IdempotencyWindow: store.IdempotencyWindow})
	if err != nil {
		return nil, s.publishError(ctx, err)
	}
	s.count(res)
	out := &hookdv1.PublishEventsResponse{Results: make([]*hookdv1.PublishEventResponse, 0, len(res))}
	for i, r := range res {
		out.Results = append(out.Results, publishResult(r, req.Msg.GetEvents()[i]))
	}
	return connect.NewResponse(out), nil
}

// GetEvent implements hookdv1connect.EventServiceHandler.
func (s *eventService) GetEvent(ctx context.Context, req *connect.Request[hookdv1.GetEventRequest]) (*connect.Response[hookdv1.GetEventResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetId() == "" {
		return nil, apierr.Invalid("id", "is required")
	}
	ev, err := s.d.Store.GetEvent(ctx, p.ProjectID, req.Msg.GetId())
	if err != nil {
		return nil, apierr.About("event", req.Msg.GetId(), err)
	}
	if err := confine(p, "event", ev.ID, ev.TenantID); err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.GetEventResponse{Event: eventToProto(ev)}), nil
}

// ListEvents implements hookdv1connect.EventServiceHandler.
func (s *eventService) ListEvents(ctx context.Context, req *connect.Request[hookdv1.ListEventsRequest]) (*connect.Response[hookdv1.ListEventsResponse], error) {
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
	f := store.EventFilter{
		EventType: req.Msg.GetEventType(), Subject: req.Msg.GetSubject(), TenantID: tenant,
		CreateAfter: fromTimestamp(req.Msg.GetCreateTimeAfter()), CreateBefore: fromTimestamp(req.Msg.GetCreateTimeBefore()),
	}
	if !f.CreateAfter.IsZero() && !f.CreateBefore.IsZero() && !f.CreateAfter.Before(f.CreateBefore) {
		return nil, apierr.Invalid("create_time_after", "must be before create_time_before")
	}
	evs, err := s.d.Store.ListEvents(ctx, p.ProjectID, f, page)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	evs, next := pagination.Trim(evs, page, func(e store.Event) string { return e.ID })
	out := &hookdv1.ListEventsResponse{Events: make([]*hookdv1.Event, 0, len(evs)), NextPageToken: next}
	for i := range evs {
		out.Events = append(out.Events, eventToProto(&evs[i]))
	}
	return connect.NewResponse(out), nil
}

// input validates one publish request; prefix names its place in a batch ("events[3].").
func (s *eventService) input(ctx context.Context, projectID, prefix string, m *hookdv1.PublishEventRequest) (store.PublishInput, error) {
	if m.GetEventType() == "" {
		return store.PublishInput{}, apierr.Invalid(prefix+"event_type", "is required")
	}
	if health.IsOperational(m.GetEventType()) {
		return store.PublishInput{}, apierr.Invalid(prefix+"event_type", "%q is an operational event type: only hookd publishes %s* events",
			m.GetEventType(), health.OperationalPrefix)
	}
	if len(m.GetSubject()) > store.MaxSubjectLen {
		return store.PublishInput{}, apierr.Invalid(prefix+"subject", "is longer than %d bytes", store.MaxSubjectLen)
	}
	if len(m.GetIdempotencyKey()) > maxKeyLen {
		return store.PublishInput{}, apierr.Invalid(prefix+"idempotency_key", "is longer than %d bytes", maxKeyLen)
	}
	if err := checkTenantID(prefix+"tenant_id", m.GetTenantId()); err != nil {
		return store.PublishInput{}, err
	}
	if n := utf8.RuneCountInString(m.GetOrderingKey()); n > store.MaxOrderingKeyLen {
		return store.PublishInput{}, apierr.Invalid(prefix+"ordering_key", "is longer than %d characters", store.MaxOrderingKeyLen)
	}
	for i, w := range m.GetWebhookIds() {
		if !id.HasPrefix(w, id.Webhook) {
			return store.PublishInput{}, apierr.Invalid(fmt.Sprintf("%swebhook_ids[%d]", prefix, i), "%q is not a webhook id (wh_…)", w)
		}
	}
	payload := []byte("{}")
	if m.GetPayload() != nil {
		var err error
		payload, err = protojson.Marshal(m.GetPayload())
		if err != nil {
			return store.PublishInput{}, apierr.Invalid(prefix+"payload", "cannot be encoded as JSON: %v", err)
		}
	}
	if len(payload) > s.maxPayload {
		return store.PublishInput{}, apierr.Invalid(prefix+"payload", "is %d bytes of JSON; the limit is %d", len(payload), s.maxPayload)
	}
	if err := schema.CheckDepth(payload); err != nil {
		return store.PublishInput{}, apierr.Invalid(prefix+"payload", "%v", err)
	}
	sc, err := s.schemaOf(ctx, projectID, m.GetEventType())
	if errors.Is(err, store.ErrNotFound) {
		return store.PublishInput{}, apierr.Invalid(prefix+"event_type", "event type %q does not exist; create it first", m.GetEventType())
	}
	if err != nil {
		return store.PublishInput{}, apierr.About("event type", m.GetEventType(), err)
	}
	if sc != nil {
		if err := sc.Validate(ctx, payload); err != nil {
			return store.PublishInput{}, apierr.Invalid(prefix+"payload", "does not match the schema of %q: %v", m.GetEventType(), err)
		}
	}
	return store.PublishInput{
		Event: store.Event{
			EventType: m.GetEventType(), Subject: m.GetSubject(), Payload: payload, IdempotencyKey: m.GetIdempotencyKey(),
			OrderingKey: m.GetOrderingKey(),
			Trace:       tracing.Capture(ctx), // the attempts join the trace of this call
			TenantID:    m.GetTenantId(),
		},
		WebhookIDs: m.GetWebhookIds(),
	}, nil
}

// schemaOf returns the compiled schema of an event type (nil when it has none), or store.ErrNotFound.
func (s *eventService) schemaOf(ctx context.Context, projectID, name string) (*schema.Schema, error) {
	return s.types.Get(ctx, typeKey{projectID, name}, func(ctx context.Context) (*schema.Schema, error) {
		et, err := s.d.Store.GetEventTypeByName(ctx, projectID, name)
		if err != nil {
			return nil, err
		}
		if len(et.Schema) == 0 || string(et.Schema) == "null" {
			return nil, nil
		}
		sc, err := schema.Compile(et.Schema)
		if err != nil {
			return nil, fmt.Errorf("compile stored schema of %q: %w", name, err)
		}
		return sc, nil
	})
}

func (s *eventService) publishError(ctx context.Context, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierr.Invalid("webhook_ids", "%v", err)
	}
	if errors.Is(err, store.ErrWrongTenant) {
		return apierr.Invalid("webhook_ids", "%v: a directed publish reaches the event's tenant's webhooks and the project's own only (tenant_id)", err)
	}
	return fmt.Errorf("publish events: %w", err)
}

func (s *eventService) count(res []store.PublishResult) {
	for _, r := range res {
		if !r.Duplicate {
			s.published.Inc()
		}
	}
}

// publishResult converts a publish result; delivery ids are sorted so that a repeated idempotency key
// answers exactly as the first publish did (the store returns new ids by webhook, known ones by id).
// publishResult is the response of a publish of req. A new event's payload is the request's own (the stored JSON
// is its encoding: decoding it again would only cost time); a duplicate answers with the stored event.
func publishResult(r store.PublishResult, req *hookdv1.PublishEventRequest) *hookdv1.PublishEventResponse {
	out := &hookdv1.PublishEventResponse{DeliveryIds: slices.Sorted(slices.Values(r.DeliveryIDs))}
	if r.Duplicate {
		out.Event = eventToProto(&r.Event)
		return out
	}
	payload := req.GetPayload()
	if payload == nil {
		payload = &structpb.Struct{}
	}
	e := r.Event
	e.Payload = nil
	out.Event = eventToProto(&e)
	out.Event.Payload = payload
	return out
}

// eventToProto converts an event; a payload that is not a JSON object is left out.
func eventToProto(e *store.Event) *hookdv1.Event {
	out := &hookdv1.Event{
		Id: e.ID, CreateTime: timestamp(e.CreateTime), EventType: e.EventType, Subject: e.Subject,
		IdempotencyKey: e.IdempotencyKey, PayloadExpired: e.PayloadExpired, TenantId: e.TenantID,
	}
	if len(e.Payload) > 0 {
		st := &structpb.Struct{}
		if err := protojson.Unmarshal(e.Payload, st); err == nil {
			out.Payload = st
		}
	}
	if e.Counts != nil {
		out.DeliveryCounts = &hookdv1.DeliveryCounts{
			Queued: int32(e.Counts[store.StatusQueued]), Retrying: int32(e.Counts[store.StatusRetrying]),
			Waiting: int32(e.Counts[store.StatusWaiting]), Done: int32(e.Counts[store.StatusDone]),
			Failed: int32(e.Counts[store.StatusFailed]), Cancelled: int32(e.Counts[store.StatusCancelled]),
		}
	}
	return out
}
