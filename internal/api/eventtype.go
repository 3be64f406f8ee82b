package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/pagination"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/store"
)

// eventTypeNameRE is what an event type name may hold; dots separate non-empty segments (checked apart).
var eventTypeNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,100}$`)

// NewEventTypeService returns the EventTypeService handler.
func NewEventTypeService(d Deps) hookdv1connect.EventTypeServiceHandler {
	return &eventTypeService{d: d}
}

type eventTypeService struct{ d Deps }

// CreateEventType implements hookdv1connect.EventTypeServiceHandler.
func (s *eventTypeService) CreateEventType(ctx context.Context, req *connect.Request[hookdv1.CreateEventTypeRequest]) (*connect.Response[hookdv1.CreateEventTypeResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := checkEventTypeName("name", m.GetName()); err != nil {
		return nil, err
	}
	if health.IsOperational(m.GetName()) {
		return nil, apierr.Invalid("name", "%q: names starting with %q are reserved for operational event types", m.GetName(), health.OperationalPrefix)
	}
	if err := checkDescription("description", m.GetDescription()); err != nil {
		return nil, err
	}
	now := s.d.now()
	et := &store.EventType{
		ID: id.New(id.EventType, now), ProjectID: p.ProjectID, Name: m.GetName(), Description: m.GetDescription(),
		CreateTime: now, UpdateTime: now,
	}
	if et.Schema, err = structToJSON("schema", m.GetSchema()); err != nil {
		return nil, err
	}
	if et.SamplePayload, err = structToJSON("sample_payload", m.GetSamplePayload()); err != nil {
		return nil, err
	}
	if err := checkSample(ctx, et.Schema, et.SamplePayload, true); err != nil {
		return nil, err
	}
	if err := s.d.Quotas.Check(ctx, s.d.Store, p.ProjectID, store.KindEventType); err != nil {
		return nil, err
	}
	if err := s.d.Store.CreateEventType(ctx, et); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("name: event type %q already exists", et.Name))
		}
		return nil, apierr.About("event type", et.ID, err)
	}
	return connect.NewResponse(&hookdv1.CreateEventTypeResponse{EventType: eventTypeToProto(et)}), nil
}

// GetEventType implements hookdv1connect.EventTypeServiceHandler.
func (s *eventTypeService) GetEventType(ctx context.Context, req *connect.Request[hookdv1.GetEventTypeRequest]) (*connect.Response[hookdv1.GetEventTypeResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	et, err := s.find(ctx, p.ProjectID, req.Msg.GetId(), req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	if p.Portal != nil && !p.Portal.AllowsEventType(et.Name) {
		return nil, apierr.About("event type", cmp.Or(req.Msg.GetId(), req.Msg.GetName()), store.ErrNotFound)
	}
	return connect.NewResponse(&hookdv1.GetEventTypeResponse{EventType: eventTypeToProto(et)}), nil
}

// find returns the event type with id, or (id empty) the one called name.
func (s *eventTypeService) find(ctx context.Context, projectID, id, name string) (*store.EventType, error) {
	switch {
	case id != "":
		et, err := s.d.Store.GetEventType(ctx, projectID, id)
		return et, apierr.About("event type", id, err)
	case name != "":
		et, err := s.d.Store.GetEventTypeByName(ctx, projectID, name)
		return et, apierr.About("event type", name, err)
	default:
		return nil, apierr.Invalid("id", "id or name is required")
	}
}

// ListEventTypes implements hookdv1connect.EventTypeServiceHandler.
func (s *eventTypeService) ListEventTypes(ctx context.Context, req *connect.Request[hookdv1.ListEventTypesRequest]) (*connect.Response[hookdv1.ListEventTypesResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	page, err := pagination.Parse(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	ets, err := s.d.Store.ListEventTypes(ctx, p.ProjectID, page)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	ets, next := pagination.Trim(ets, page, func(x store.EventType) string { return x.ID })
	out := &hookdv1.ListEventTypesResponse{EventTypes: make([]*hookdv1.EventType, 0, len(ets)), NextPageToken: next}
	for i := range ets {
		if p.Portal != nil && !p.Portal.AllowsEventType(ets[i].Name) {
			continue // a portal session sees its allow-list only (a page may then hold fewer types)
		}
		out.EventTypes = append(out.EventTypes, eventTypeToProto(&ets[i]))
	}
	return connect.NewResponse(out), nil
}

// UpdateEventType implements hookdv1connect.EventTypeServiceHandler: the type is found by id or name, as by
// GetEventType. An empty schema or sample payload removes it. The change is applied to the event type as it is
// when written (updateFresh).
func (s *eventTypeService) UpdateEventType(ctx context.Context, req *connect.Request[hookdv1.UpdateEventTypeRequest]) (*connect.Response[hookdv1.UpdateEventTypeResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	et, err := updated(ctx, func() (*store.EventType, error) { return s.update(ctx, p, m) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.UpdateEventTypeResponse{EventType: eventTypeToProto(et)}), nil
}

// update reads the event type, applies m and writes it over the version read.
func (s *eventTypeService) update(ctx context.Context, p auth.Principal, m *hookdv1.UpdateEventTypeRequest) (*store.EventType, error) {
	et, err := s.find(ctx, p.ProjectID, m.GetId(), m.GetName())
	if err != nil {
		return nil, err
	}
	if err := refuseOperational(et); err != nil {
		return nil, err
	}
	if m.Description != nil {
		if err := checkDescription("description", m.GetDescription()); err != nil {
			return nil, err
		}
		et.Description = m.GetDescription()
	}
	if m.Schema != nil {
		if et.Schema, err = structToJSON("schema", m.GetSchema()); err != nil {
			return nil, err
		}
	}
	if m.SamplePayload != nil {
		if et.SamplePayload, err = structToJSON("sample_payload", m.GetSamplePayload()); err != nil {
			return nil, err
		}
	}
	if err := checkSample(ctx, et.Schema, et.SamplePayload, m.Schema != nil); err != nil {
		return nil, err
	}
	et.UpdateTime = s.d.now()
	if err := s.d.Store.UpdateEventType(ctx, et); err != nil {
		return nil, apierr.About("event type", et.ID, err)
	}
	return et, nil
}

// DeleteEventType implements hookdv1connect.EventTypeServiceHandler.
func (s *eventTypeService) DeleteEventType(ctx context.Context, req *connect.Request[hookdv1.DeleteEventTypeRequest]) (*connect.Response[hookdv1.DeleteEventTypeResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	et, err := s.d.Store.GetEventType(ctx, p.ProjectID, req.Msg.GetId())
	if err != nil {
		return nil, apierr.About("event type", req.Msg.GetId(), err)
	}
	if err := refuseOperational(et); err != nil {
		return nil, err
	}
	err = s.d.Store.DeleteEventType(ctx, p.ProjectID, et.ID)
	if errors.Is(err, store.ErrConflict) {
		return nil, apierr.FailedPrecondition("event type %q is named by subscriptions: change or delete them first", req.Msg.GetId())
	}
	if err != nil {
		return nil, apierr.About("event type", req.Msg.GetId(), err)
	}
	return connect.NewResponse(&hookdv1.DeleteEventTypeResponse{}), nil
}

// refuseOperational refuses changes to an operational event type (hookd keeps them as they are in every project).
func refuseOperational(et *store.EventType) error {
	if health.IsOperational(et.Name) {
		return apierr.FailedPrecondition("event type %q is operational: hookd keeps it, it cannot be changed or deleted", et.Name)
	}
	return nil
}

// checkEventTypeName checks an event type name: letters, digits, '_', '-', dot-separated non-empty segments.
func checkEventTypeName(field, name string) error {
	if name == "" {
		return apierr.Invalid(field, "is required")
	}
	if !eventTypeNameRE.MatchString(name) || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return apierr.Invalid(field, "%q must be 1-100 letters, digits, '_' or '-', in segments separated by dots (e.g. user.created)", name)
	}
	return nil
}

// checkSample compiles the schema (when set), checks its shape when it is new (a schema whose evaluation can blow
// up is refused) and checks the sample payload (when set) against it.
func checkSample(ctx context.Context, rawSchema, sample json.RawMessage, newSchema bool) error {
	if err := schema.CheckDepth(sample); err != nil {
		return apierr.Invalid("sample_payload", "%v", err)
	}
	if len(rawSchema) == 0 {
		return nil
	}
	if err := schema.CheckDepth(rawSchema); err != nil {
		return apierr.Invalid("schema", "%v", err)
	}
	sc, err := schema.Compile(rawSchema)
	if err != nil {
		return apierr.Invalid("schema", "is not a valid JSON Schema: %v", err)
	}
	if newSchema {
		if err := sc.CheckShape(); err != nil {
			return apierr.Invalid("schema", "is refused: %v", err)
		}
	}
	if len(sample) == 0 {
		return nil
	}
	if err := sc.Validate(ctx, sample); err != nil {
		return apierr.Invalid("sample_payload", "does not match the schema: %v", err)
	}
	return nil
}

func eventTypeToProto(et *store.EventType) *hookdv1.EventType {
	return &hookdv1.EventType{
		Id: et.ID, CreateTime: timestamp(et.CreateTime), UpdateTime: timestamp(et.UpdateTime), Name: et.Name,
		Description: et.Description, Schema: jsonToStruct(et.Schema), SamplePayload: jsonToStruct(et.SamplePayload),
		Operational: health.IsOperational(et.Name),
	}
}
