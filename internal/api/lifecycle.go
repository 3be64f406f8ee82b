package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
)

// MinRetention is the shortest retention or payload retention a project may set.
const MinRetention = time.Hour

// UpdateProject implements hookdv1connect.ProjectServiceHandler.
func (s *projectService) UpdateProject(ctx context.Context, req *connect.Request[hookdv1.UpdateProjectRequest]) (*connect.Response[hookdv1.UpdateProjectResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if !isInstanceAdmin(p) {
		return nil, apierr.PermissionDenied("UpdateProject needs an instance admin key")
	}
	pid := req.Msg.GetId()
	if pid == "" {
		pid = p.ProjectID
	}
	// Over the version read, like every Update RPC: a concurrent update of the other retention is kept.
	pr, err := updated(ctx, func() (*store.Project, error) { return s.updateProject(ctx, pid, req.Msg) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hookdv1.UpdateProjectResponse{Project: projectToProto(pr)}), nil
}

// updateProject reads the project, applies the request's changes and writes it over the version read.
func (s *projectService) updateProject(ctx context.Context, pid string, m *hookdv1.UpdateProjectRequest) (*store.Project, error) {
	pr, err := s.d.Store.GetProject(ctx, pid)
	if err != nil {
		return nil, apierr.About("project", pid, err)
	}
	if m.Retention != nil {
		if pr.Retention, err = retentionField("retention", m.Retention); err != nil {
			return nil, err
		}
		if s.d.Retention > 0 && pr.Retention > s.d.Retention {
			return nil, apierr.Invalid("retention", "must not be longer than the instance's retention (%s)", s.d.Retention)
		}
	}
	if m.PayloadRetention != nil {
		if pr.PayloadRetention, err = retentionField("payload_retention", m.PayloadRetention); err != nil {
			return nil, err
		}
	}
	if limit := cmpDuration(pr.Retention, s.d.Retention); limit > 0 && pr.PayloadRetention > limit {
		return nil, apierr.Invalid("payload_retention", "must not be longer than the retention (%s)", limit)
	}
	pr.UpdateTime = s.d.now()
	if err := s.d.Store.UpdateProject(ctx, pr); err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil, err
		}
		return nil, apierr.About("project", pid, err)
	}
	return pr, nil
}

// retentionField reads a retention: zero (unset) or at least MinRetention, in whole seconds.
func retentionField(field string, d *durationpb.Duration) (time.Duration, error) {
	if err := d.CheckValid(); err != nil {
		return 0, apierr.Invalid(field, "%v", err)
	}
	v := d.AsDuration()
	switch {
	case v < 0:
		return 0, apierr.Invalid(field, "must not be negative")
	case v == 0:
		return 0, nil
	case v < MinRetention:
		return 0, apierr.Invalid(field, "must be zero (unset) or at least %s", MinRetention)
	case v%time.Second != 0:
		return 0, apierr.Invalid(field, "must be whole seconds")
	}
	return v, nil
}

// cmpDuration returns d, or def when d is zero.
func cmpDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// EraseSubject implements hookdv1connect.EventServiceHandler.
func (s *eventService) EraseSubject(ctx context.Context, req *connect.Request[hookdv1.EraseSubjectRequest]) (*connect.Response[hookdv1.EraseSubjectResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsAdmin() {
		return nil, apierr.PermissionDenied("EraseSubject needs an ADMIN key")
	}
	subject := req.Msg.GetSubject()
	switch {
	case subject == "":
		return nil, apierr.Invalid("subject", "is required")
	case len(subject) > store.MaxSubjectLen:
		return nil, apierr.Invalid("subject", "must be at most %d bytes", store.MaxSubjectLen)
	}
	res, err := s.d.Store.EraseSubject(ctx, p.ProjectID, subject, s.d.now(), 0)
	if err != nil {
		return nil, fmt.Errorf("erase subject: %w", err)
	}
	// The log names the key and the counts, never the subject.
	s.d.log().InfoContext(ctx, "subject erased", "project_id", p.ProjectID, "key_id", p.KeyID, "events", res.Events,
		"deliveries", res.Deliveries, "attempts", res.Attempts, "executions", res.Executions)
	return connect.NewResponse(&hookdv1.EraseSubjectResponse{
		EventsDeleted: int64(res.Events), DeliveriesDeleted: int64(res.Deliveries), AttemptsDeleted: int64(res.Attempts),
		ExecutionsDeleted: int64(res.Executions), DeliveriesCancelled: int64(res.Cancelled),
		IdempotencyKeysDeleted: int64(res.IdempotencyKeys), OperationalEventsDeleted: int64(res.OperationalEvents),
	}), nil
}
