// Package actionstatus finishes WAITING deliveries of async_status webhooks: the receiver answered 202 and
// later reports done or failed at the delivery's `meta.link`, as plain HTTP (NewHandler) or as the
// ActionStatusService RPC (NewService). The token in the link is the capability; no API key is needed.
package actionstatus

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/actiontoken"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
)

const (
	// pathPrefix is where the plain HTTP callback is served: POST /v1/action-status/{token}.
	pathPrefix = "/v1/action-status/"
	// maxBodyBytes caps a callback body.
	maxBodyBytes = 64 << 10
	// maxReasonBytes caps a failure reason.
	maxReasonBytes = 2000
)

var errUnknownToken = errors.New("unknown or already used action token")

// Store is what action-status callbacks need of the store.
type Store interface {
	// UpdateActionStatus finishes the WAITING (or in-flight) delivery at resend count resends.
	UpdateActionStatus(ctx context.Context, p store.UpdateActionStatusParams) (*store.Delivery, error)
	// DeliveryByLegacyToken finds the delivery of a token handed out before tokens were derived.
	DeliveryByLegacyToken(ctx context.Context, hash []byte) (*store.Delivery, error)
}

// Config configures the callback handler and service.
type Config struct {
	// Store finishes deliveries.
	Store Store
	// Keys check tokens (actiontoken).
	Keys actiontoken.Keys
	// Clock tells the time (default the wall clock).
	Clock clock.Clock
	// Log receives updates and internal errors (default slog.Default()).
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// update applies a validated callback; errUnknownToken when the token is unknown or its delivery finished.
func update(ctx context.Context, cfg Config, token string, status store.Status, reason string) (*store.Delivery, error) {
	deliveryID, resends, ok := actiontoken.Parse(cfg.Keys, token)
	if !ok {
		// A token handed out before tokens were derived (kept hashed for unfinished deliveries); a resend voids it.
		sum := sha256.Sum256([]byte(token))
		d, err := cfg.Store.DeliveryByLegacyToken(ctx, sum[:])
		if errors.Is(err, store.ErrNotFound) || (err == nil && d.Resends != 0) {
			return nil, errUnknownToken
		}
		if err != nil {
			return nil, fmt.Errorf("update action status: %w", err)
		}
		deliveryID = d.ID
	}
	d, err := cfg.Store.UpdateActionStatus(ctx, store.UpdateActionStatusParams{DeliveryID: deliveryID, Resends: resends, Status: status, Reason: reason, Now: cfg.Clock.Now().UTC()})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownToken
	}
	if err != nil {
		return nil, fmt.Errorf("update action status: %w", err)
	}
	cfg.Log.InfoContext(ctx, "action status updated", "delivery_id", d.ID, "status", string(status), "reason", reason)
	return d, nil
}

// checkReason returns what is wrong with the reason of a status, or "".
func checkReason(status store.Status, reason string) string {
	switch {
	case status == store.StatusFailed && strings.TrimSpace(reason) == "":
		return "is required when status is failed"
	case len(reason) > maxReasonBytes:
		return fmt.Sprintf("is longer than %d bytes", maxReasonBytes)
	}
	return ""
}

// handler serves POST /v1/action-status/{token}.
type handler struct{ cfg Config }

// NewHandler returns the plain HTTP action-status callback, mounted at "/v1/action-status/" or
// "POST /v1/action-status/{token}". Replies are JSON: 200 ok, 400 bad body, 404 unknown token, 405 not POST.
func NewHandler(cfg Config) http.Handler { return &handler{cfg: cfg.withDefaults()} }

// callback is the body of a callback.
type callback struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed: use POST")
		return
	}
	token := r.PathValue("token")
	if token == "" {
		token = strings.TrimPrefix(r.URL.Path, pathPrefix)
	}
	if token == "" || strings.Contains(token, "/") {
		writeError(w, http.StatusNotFound, errUnknownToken.Error())
		return
	}
	var cb callback
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&cb); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON body: send {\"status\":\"done\"} or {\"status\":\"failed\",\"reason\":\"…\"}")
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "malformed JSON body: one JSON object expected")
		return
	}
	var status store.Status
	switch strings.ToLower(strings.TrimSpace(cb.Status)) {
	case "done":
		status = store.StatusDone
	case "failed":
		status = store.StatusFailed
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status: must be \"done\" or \"failed\", got %q", cb.Status))
		return
	}
	if msg := checkReason(status, cb.Reason); msg != "" {
		writeError(w, http.StatusBadRequest, "reason: "+msg)
		return
	}
	d, err := update(r.Context(), h.cfg, token, status, cb.Reason)
	switch {
	case errors.Is(err, errUnknownToken):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		h.cfg.Log.ErrorContext(r.Context(), "action status callback", "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	default:
		writeJSON(w, http.StatusOK, map[string]any{
			"status": "ok", "code": http.StatusOK,
			"data": map[string]string{"deliveryId": d.ID, "eventId": d.EventID},
		})
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"status": "error", "code": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// service implements the ActionStatusService RPC.
type service struct{ cfg Config }

// NewService returns the ActionStatusService handler (public: the token is the capability).
func NewService(cfg Config) hookdv1connect.ActionStatusServiceHandler {
	return &service{cfg: cfg.withDefaults()}
}

// UpdateActionStatus implements hookdv1connect.ActionStatusServiceHandler.
func (s *service) UpdateActionStatus(ctx context.Context, req *connect.Request[hookdv1.UpdateActionStatusRequest]) (*connect.Response[hookdv1.UpdateActionStatusResponse], error) {
	msg := req.Msg
	if msg.GetToken() == "" {
		return nil, apierr.Invalid("token", "is required")
	}
	var status store.Status
	switch msg.GetStatus() {
	case hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE:
		status = store.StatusDone
	case hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED:
		status = store.StatusFailed
	default:
		return nil, apierr.Invalid("status", "must be DELIVERY_STATUS_DONE or DELIVERY_STATUS_FAILED, got %s", msg.GetStatus())
	}
	if m := checkReason(status, msg.GetReason()); m != "" {
		return nil, apierr.Invalid("reason", "%s", m)
	}
	d, err := update(ctx, s.cfg, msg.GetToken(), status, msg.GetReason())
	switch {
	case errors.Is(err, errUnknownToken):
		return nil, connect.NewError(connect.CodeNotFound, err)
	case err != nil:
		return nil, apierr.About("delivery", "", err)
	}
	return connect.NewResponse(&hookdv1.UpdateActionStatusResponse{DeliveryId: d.ID, EventId: d.EventID}), nil
}
