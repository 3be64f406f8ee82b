package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookd/hookd/internal/listen"
	"github.com/hookd/hookd/internal/store"
)

// ListenRequeueDelay is when a delivery of a TRANSPORT_LISTEN webhook claimed by a process without a connected
// `hookd listen` client is due again (QUEUED, no attempt spent).
const ListenRequeueDelay = 2 * time.Second

// listenURLPrefix marks the request URL of an attempt handed to a listen client (it holds the path only).
const listenURLPrefix = "listen:"

// sendListen hands a built request to a `hookd listen` client of the webhook connected to this process and
// returns the response it reports as the attempt's result; false when no client could take it (nothing was
// sent: the delivery waits).
func (s *Sender) sendListen(ctx context.Context, d *store.ClaimedDelivery, attempt int, r *request) (result, bool) {
	if r.err != nil {
		return s.do(ctx, r), true // a permanent failure, decided as for HTTP
	}
	res := result{attempt: r.attempt}
	began := time.Now()
	rep, err := s.cfg.Listen.Send(ctx, d.ProjectID, d.WebhookID, listen.Request{
		DeliveryID: d.ID, EventType: d.EventType, Attempt: attempt, Method: r.method, Path: r.url,
		Header: r.header, Body: r.body, Timeout: r.timeout,
	})
	if errors.Is(err, listen.ErrNoListener) {
		return res, false
	}
	res.attempt.Duration = time.Since(began)
	s.metrics.attempt(r.webhookID, res.attempt.Duration)
	switch {
	case errors.Is(err, listen.ErrTimeout):
		res.err = fmt.Errorf("timeout after %s", r.timeout)
	case err != nil:
		res.err = err
	case rep.Error != "" || rep.StatusCode == 0:
		res.err = errors.New(clean("hookd listen: "+cmp.Or(rep.Error, "no response"), maxReasonBytes))
	}
	if res.err != nil {
		res.attempt.Error = clean(res.err.Error(), maxReasonBytes)
		return res, true
	}
	if rep.Duration > 0 {
		res.attempt.Duration = rep.Duration // as the client measured it, without the stream's round trip
	}
	body := rep.Body
	if len(body) > s.cfg.MaxResponseBytes {
		body = body[:s.cfg.MaxResponseBytes]
	}
	res.status, res.header, res.body = rep.StatusCode, rep.Header, body
	if res.header == nil {
		res.header = http.Header{}
	}
	res.attempt.ResponseStatusCode = rep.StatusCode
	res.attempt.ResponseHeaders = storeHeaders(res.header, nil, "")
	res.attempt.ResponseBody = clean(string(body), s.cfg.MaxResponseBytes)
	return res, true
}
