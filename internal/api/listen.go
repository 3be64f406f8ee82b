package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/listen"
	"github.com/hookd/hookd/internal/store"
)

// maxListenReportBody caps the response body a listen client reports (the sender keeps at most its own limit).
const maxListenReportBody = 1 << 20

// ListenDeliveries implements hookdv1connect.DeliveryServiceHandler: the requests of a TRANSPORT_LISTEN webhook,
// handed over by the sender of this process (see package listen), with heartbeats.
func (s *deliveryService) ListenDeliveries(ctx context.Context, req *connect.Request[hookdv1.ListenDeliveriesRequest], stream *connect.ServerStream[hookdv1.ListenDeliveriesResponse]) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	id := req.Msg.GetWebhookId()
	if id == "" {
		return apierr.Invalid("webhook_id", "is required")
	}
	w, err := s.d.Store.GetWebhook(ctx, p.ProjectID, id)
	if err != nil {
		return apierr.About("webhook", id, err)
	}
	if w.Transport != store.TransportListen {
		return apierr.Invalid("webhook_id", "webhook %s has transport TRANSPORT_HTTP; listening needs a TRANSPORT_LISTEN webhook", id)
	}
	if s.d.Listen == nil {
		return connect.NewError(connect.CodeUnimplemented, errors.New("listen deliveries: this server process sends no deliveries (--role api); connect to a process that runs the sender too (--role all)"))
	}
	client, disconnect := s.d.Listen.Connect(p.ProjectID, id)
	defer disconnect()
	if err := stream.Send(&hookdv1.ListenDeliveriesResponse{}); err != nil { // the stream is open and registered
		return nil
	}
	every := s.d.WatchHeartbeat
	if every <= 0 {
		every = DefaultWatchHeartbeat
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := stream.Send(&hookdv1.ListenDeliveriesResponse{}); err != nil {
				return nil
			}
		case r := <-client.Requests():
			hs := make([]*hookdv1.Header, 0, len(r.Header))
			for name, values := range r.Header {
				for _, v := range values {
					hs = append(hs, &hookdv1.Header{Name: name, Value: v})
				}
			}
			if err := stream.Send(&hookdv1.ListenDeliveriesResponse{Request: &hookdv1.ListenedRequest{
				AttemptToken: r.Token, DeliveryId: r.DeliveryID, EventType: r.EventType, Attempt: int32(r.Attempt),
				Method: r.Method, Path: r.Path, Headers: hs, Body: r.Body, Timeout: durationpb.New(r.Timeout),
			}}); err != nil {
				return nil // the attempt times out: the client went away with it
			}
		}
	}
}

// ReportListenedAttempt implements hookdv1connect.DeliveryServiceHandler.
func (s *deliveryService) ReportListenedAttempt(ctx context.Context, req *connect.Request[hookdv1.ReportListenedAttemptRequest]) (*connect.Response[hookdv1.ReportListenedAttemptResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.GetAttemptToken() == "" {
		return nil, apierr.Invalid("attempt_token", "is required")
	}
	if c := m.GetStatusCode(); c != 0 && (c < 100 || c > 599) {
		return nil, apierr.Invalid("status_code", "is %d; it must be 0 (no response) or an HTTP status 100-599", c)
	}
	if len(m.GetBody()) > maxListenReportBody {
		return nil, apierr.Invalid("body", "has %d bytes; the limit is %d", len(m.GetBody()), maxListenReportBody)
	}
	h := http.Header{}
	for _, x := range m.GetHeaders() {
		h.Add(x.GetName(), x.GetValue())
	}
	rep := listen.Report{StatusCode: int(m.GetStatusCode()), Header: h, Body: m.GetBody(),
		Duration: m.GetDuration().AsDuration(), Error: m.GetError()}
	if s.d.Listen == nil || !s.d.Listen.Complete(p.ProjectID, m.GetAttemptToken(), rep) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New(
			"report listened attempt: no attempt waits for this attempt_token (already reported, timed out, or served by another process)"))
	}
	return connect.NewResponse(&hookdv1.ReportListenedAttemptResponse{}), nil
}
