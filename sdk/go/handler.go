package hookd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Envelope is the default body hookd sends for an event (webhooks without a body_template).
type Envelope struct {
	// ID is the event id (evt_…), the same for every webhook the event goes to.
	ID string `json:"id"`
	// Type is the event type name, e.g. "user.created".
	Type string `json:"type"`
	// Timestamp is when the event was published.
	Timestamp time.Time `json:"timestamp"`
	// Subject is the customer or user the event is about (may be empty).
	Subject string `json:"subject,omitempty"`
	// Data is the event payload as sent.
	Data json.RawMessage `json:"data"`
	// Meta describes this delivery.
	Meta Meta `json:"meta"`
}

// Meta is the delivery part of an Envelope.
type Meta struct {
	// DeliveryID is the delivery (dlv_…); it equals the webhook-id header and is stable across retries.
	DeliveryID string `json:"deliveryId"`
	// Attempt counts from 1.
	Attempt int `json:"attempt"`
	// Link is the action-status URL for async_status webhooks (see CompleteAction).
	Link string `json:"link"`
}

// DecodeData unmarshals the payload into v.
func (e *Envelope) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode event data: %w", err)
	}
	return nil
}

// ErrAccepted, returned by a Handler func, answers 202: an async_status webhook's delivery then
// waits until CompleteAction is called with its Meta.Link.
var ErrAccepted = errors.New("hookd: accepted, status follows on meta.link")

// ResponseError, returned by a Handler func, answers StatusCode with {"reason": Reason}; hookd stores
// the reason on the delivery. 5xx/429/408 are retried by hookd, other 4xx fail the delivery, 410 also
// disables the webhook.
type ResponseError struct {
	StatusCode int
	Reason     string
}

// Error implements error.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("hookd: respond %d: %s", e.StatusCode, e.Reason)
}

// MaxBodyBytes caps the request body a Handler reads.
const MaxBodyBytes = 8 << 20

// Handler verifies hookd's signature on each request with key (the webhook's whsec_ secret, or its
// whpk_ public key for ed25519-signed webhooks; see Verify), decodes the Envelope and calls fn.
// It answers 401 for a bad or missing signature, 400 for a body that is not an envelope, 200 when fn
// returns nil, 202 for ErrAccepted, a ResponseError's status, and 500 {"reason": …} for other errors
// (hookd retries those). A webhook with renamed signing headers or another signature style needs HandlerScheme.
func Handler(key string, fn func(ctx context.Context, e *Envelope) error) http.Handler {
	return &handler{key: key, fn: fn, nowFunc: time.Now}
}

// KeyLookup returns the key that verifies a request (a whsec_ secret or a whpk_ public key, as for Handler): for
// receivers that learn the secret after they start (from `hookd listen`'s output, a secret store, a reload), or
// that serve several webhooks on one route. An error answers 503 with its reason (hookd retries it).
type KeyLookup func(r *http.Request) (string, error)

// HandlerLookup is Handler with the key looked up per request by lookup; an empty key verifies nothing (401).
func HandlerLookup(lookup KeyLookup, fn func(ctx context.Context, e *Envelope) error) http.Handler {
	return &handler{lookup: lookup, fn: fn, nowFunc: time.Now}
}

type handler struct {
	key     string
	lookup  KeyLookup // when set, replaces key
	scheme  Scheme
	fn      func(ctx context.Context, e *Envelope) error
	nowFunc func() time.Time
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeReason(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		writeReason(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	key := h.key
	if h.lookup != nil {
		if key, err = h.lookup(r); err != nil {
			writeReason(w, http.StatusServiceUnavailable, "look up the webhook key: "+err.Error())
			return
		}
	}
	if err := verifySchemeAt(key, h.scheme, r.Header, body, h.nowFunc()); err != nil || key == "" {
		writeReason(w, http.StatusUnauthorized, "invalid webhook signature")
		return
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.ID == "" || env.Type == "" {
		writeReason(w, http.StatusBadRequest, "body is not a hookd event envelope")
		return
	}
	err = h.fn(r.Context(), &env)
	var re *ResponseError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, ErrAccepted):
		w.WriteHeader(http.StatusAccepted)
	case errors.As(err, &re):
		writeReason(w, re.StatusCode, re.Reason)
	default:
		writeReason(w, http.StatusInternalServerError, err.Error())
	}
}

func writeReason(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"reason": reason})
}
