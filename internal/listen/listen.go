// Package listen connects the sender to `hookd listen` clients: the sender hands the built and signed request of
// an attempt of a TRANSPORT_LISTEN webhook to a client connected to this process (DeliveryService.ListenDeliveries)
// and waits for the response it reports (DeliveryService.ReportListenedAttempt).
//
// A client's stream is served by one process. A process that claims a delivery of a listen webhook with no client
// connected to it does not attempt it: the sender puts it back QUEUED, due shortly, without spending an attempt
// (ErrNoListener), so whichever process holds the client claims it within a few tries.
package listen

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"
)

// ErrNoListener means no client of the webhook is connected to this process (or none can take a request now).
var ErrNoListener = errors.New("no hookd listen client connected")

// ErrTimeout means the client did not report the response in time.
var ErrTimeout = errors.New("no report from the hookd listen client")

// Request is one attempt's request, ready to be forwarded by a client.
type Request struct {
	Token      string
	DeliveryID string
	EventType  string
	Attempt    int
	Method     string
	Path       string
	Header     http.Header
	Body       []byte
	Timeout    time.Duration
}

// Report is what a client saw when it forwarded a request.
type Report struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	Duration   time.Duration
	Error      string
}

// queueSize is how many requests one client may have waiting to be streamed.
const queueSize = 64

// Client is one connected stream; Requests yields what it must forward.
type Client struct {
	projectID string
	webhookID string
	requests  chan Request
}

// Requests yields the requests to forward.
func (c *Client) Requests() <-chan Request { return c.requests }

type pending struct {
	projectID string
	reports   chan Report
}

// Hub holds the clients connected to this process and the attempts waiting for their reports.
type Hub struct {
	mu      sync.Mutex
	clients map[string][]*Client // by webhook id
	next    map[string]int       // round robin over a webhook's clients
	pending map[string]pending   // by attempt token
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{clients: map[string][]*Client{}, next: map[string]int{}, pending: map[string]pending{}}
}

// Connect registers a client of the project's webhook; the returned function disconnects it.
func (h *Hub) Connect(projectID, webhookID string) (*Client, func()) {
	c := &Client{projectID: projectID, webhookID: webhookID, requests: make(chan Request, queueSize)}
	h.mu.Lock()
	h.clients[webhookID] = append(h.clients[webhookID], c)
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		cs := h.clients[webhookID]
		for i, x := range cs {
			if x == c {
				cs = append(cs[:i:i], cs[i+1:]...)
				break
			}
		}
		if len(cs) == 0 {
			delete(h.clients, webhookID)
			delete(h.next, webhookID)
		} else {
			h.clients[webhookID] = cs
		}
	}
}

// Connected reports whether a client of the webhook is connected to this process.
func (h *Hub) Connected(webhookID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients[webhookID]) > 0
}

// Send hands r (its Token is set here) to a client of the project's webhook and waits for its report, until
// r.Timeout or ctx ends: ErrNoListener when no client can take it (nothing was sent), ErrTimeout when the report
// did not come in time.
func (h *Hub) Send(ctx context.Context, projectID, webhookID string, r Request) (Report, error) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	r.Token = "lat_" + base64.RawURLEncoding.EncodeToString(b[:])
	reports := make(chan Report, 1)

	h.mu.Lock()
	cs := h.clients[webhookID]
	sent := false
	for i := range cs {
		c := cs[(h.next[webhookID]+i)%len(cs)]
		if c.projectID != projectID {
			continue
		}
		select {
		case c.requests <- r:
			sent = true
			h.next[webhookID] = (h.next[webhookID] + i + 1) % len(cs)
		default: // this client is behind: try another
			continue
		}
		break
	}
	if sent {
		h.pending[r.Token] = pending{projectID: projectID, reports: reports}
	}
	h.mu.Unlock()
	if !sent {
		return Report{}, ErrNoListener
	}
	defer func() {
		h.mu.Lock()
		delete(h.pending, r.Token)
		h.mu.Unlock()
	}()
	timer := time.NewTimer(r.Timeout)
	defer timer.Stop()
	select {
	case rep := <-reports:
		return rep, nil
	case <-timer.C:
		return Report{}, ErrTimeout
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
}

// Complete delivers the report of the attempt with token, made by a caller of projectID; false when no attempt of
// the project waits for that token (unknown, already reported or timed out).
func (h *Hub) Complete(projectID, token string, rep Report) bool {
	h.mu.Lock()
	p, ok := h.pending[token]
	if ok && p.projectID == projectID {
		delete(h.pending, token)
	}
	h.mu.Unlock()
	if !ok || p.projectID != projectID {
		return false
	}
	p.reports <- rep // buffered, one report per token
	return true
}
