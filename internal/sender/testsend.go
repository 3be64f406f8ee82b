package sender

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/listen"
	"github.com/hookd/hookd/internal/store"
)

// SendTest sends one signed request for webhook w now, with the given event type and JSON payload (an empty
// payload sends {}), and returns it with its response as an attempt (Number 0). Nothing is stored and nothing
// is retried; the webhook need not be enabled. It implements api.Tester.
func (s *Sender) SendTest(ctx context.Context, w *store.Webhook, eventType string, payload []byte) (att *store.Attempt, err error) {
	defer func() {
		if v := recover(); v != nil { // contained as in deliver
			s.metrics.panics.Inc()
			s.cfg.Log.ErrorContext(ctx, "test send panicked", "webhook_id", w.ID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			att, err = nil, fmt.Errorf("send test: panic: %v", v)
		}
	}()
	if w == nil {
		return nil, errors.New("send test: no webhook")
	}
	var in *store.Integration
	if w.IntegrationID != "" {
		in, err = s.cfg.Targets.GetIntegration(ctx, w.ProjectID, w.IntegrationID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("send test: load integration: %w", err)
		}
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	now := s.now()
	ctx, span := s.startTestSend(ctx, w)
	t := newTarget(w, in)
	req := s.build(ctx, t, message{
		msgID: id.New("msg", now), eventID: id.New(id.Event, now), eventType: eventType,
		payload: payload, createTime: now, attempt: 1,
	}, "")
	var res result
	if w.Transport == store.TransportListen { // to a connected `hookd listen` client, as deliveries go
		var ok bool
		if s.cfg.Listen != nil {
			d := &store.ClaimedDelivery{Delivery: store.Delivery{ProjectID: w.ProjectID, WebhookID: w.ID, EventType: eventType}}
			res, ok = s.sendListen(ctx, d, 1, req)
		}
		if !ok {
			res = result{attempt: req.attempt, err: listen.ErrNoListener}
			res.attempt.Error = listen.ErrNoListener.Error()
		}
	} else {
		res = s.send(ctx, t, req)
	}
	endAttempt(span, req, res, "", "")
	return res.attempt, nil
}
