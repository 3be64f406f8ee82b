package trigger

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/id"
	"github.com/hookd/hookd/internal/store"
)

// maxResultDeliveries bounds how many deliveries of one event the result URL looks at.
const maxResultDeliveries = 1000

// unfinished are the statuses of deliveries a sync trigger waits for.
var unfinished = []store.Status{store.StatusQueued, store.StatusRetrying, store.StatusWaiting}

// OutcomeSignal signals the delivery outcomes this process commits (storesql's Notifier).
type OutcomeSignal interface {
	// DeliveriesChanged returns a channel closed at the next commit of delivery outcomes.
	DeliveriesChanged() <-chan struct{}
}

// waitForDeliveries waits until none of the event's deliveries is unfinished, the trigger's sync timeout passes,
// or the caller hangs up. It re-reads the event when the store signals committed outcomes (and every
// SyncPollInterval, for outcomes committed by other processes of a cluster), not on a fast polling tick.
func (h *handler) waitForDeliveries(ctx context.Context, t *store.Trigger, eventID string) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(t.SyncTimeout, DefaultSyncTimeout))
	defer cancel()
	tick := time.NewTicker(h.cfg.SyncPollInterval)
	defer tick.Stop()
	notifier := h.cfg.Outcomes
	for {
		var changed <-chan struct{}
		if notifier != nil {
			changed = notifier.DeliveriesChanged() // taken before reading: no commit is missed in between
		}
		ev, err := h.cfg.Store.GetEvent(ctx, t.ProjectID, eventID)
		if err != nil {
			if ctx.Err() == nil {
				h.cfg.Log.ErrorContext(ctx, "trigger: poll sync event", "trigger_id", t.ID, "event_id", eventID, "error", err)
			}
			return
		}
		pending := 0
		for _, s := range unfinished {
			pending += ev.Counts[s]
		}
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// serveResult answers GET /v1/executions/<id>/result?token=<token> with the first delivery's response:
// 202 while deliveries are unfinished, 400 with the reason when one failed, 204 when the event had none.
// Only executions of sync triggers have a result. The token (a MAC of the execution id under the secret keyring,
// never stored) is the capability, plus the trigger's API key when it has one; the time-ordered id alone is not.
// The receiver's body is served as an inert download: never as HTML, with nosniff and a sandbox CSP (ServeHTTP
// sets them), so that it cannot run script on hookd's origin.
func (h *handler) serveResult(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed")
		return
	}
	exeID, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1/executions/"), "/")
	if rest != "result" || !id.HasPrefix(exeID, id.Execution) {
		writeError(w, http.StatusNotFound, "execution result not found")
		return
	}
	token, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("token"))
	if err != nil || !h.cfg.Keyring.VerifyMAC(resultTokenPurpose, []byte(exeID), token) {
		writeError(w, http.StatusNotFound, "execution result not found")
		return
	}
	e, err := h.cfg.Store.ExecutionByID(ctx, exeID)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "execution result not found")
		return
	} else if err != nil {
		h.internal(ctx, w, "get execution", err, "execution_id", exeID)
		return
	}
	t, err := h.cfg.Store.TriggerByID(ctx, e.TriggerID)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "execution result not found")
		return
	} else if err != nil {
		h.internal(ctx, w, "find trigger", err, "trigger_id", e.TriggerID)
		return
	}
	if !t.Sync {
		writeError(w, http.StatusNotFound, "execution result not found")
		return
	}
	if !apiKeyOK(t, r.Header) {
		writeError(w, http.StatusUnauthorized, "missing or invalid API key in header "+t.APIKeyHeader)
		return
	}
	if e.EventID == "" {
		writeError(w, http.StatusNotFound, "execution published no event")
		return
	}
	ds, err := h.cfg.Store.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: t.ProjectID, Filter: store.DeliveryFilter{EventID: e.EventID}, Page: store.Page{Size: maxResultDeliveries}})
	if err != nil {
		h.internal(ctx, w, "list deliveries", err, "execution_id", exeID)
		return
	}
	if len(ds) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	slices.SortFunc(ds, func(a, b store.Delivery) int { return strings.Compare(a.ID, b.ID) })
	for _, d := range ds {
		if d.Status == store.StatusFailed || d.Status == store.StatusCancelled {
			writeError(w, http.StatusBadRequest, cmp.Or(d.Reason, "delivery "+string(d.Status)))
			return
		}
	}
	for _, d := range ds {
		if slices.Contains(unfinished, d.Status) {
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "pending"})
			return
		}
	}
	attempts, err := h.cfg.Store.ListAttempts(ctx, ds[0].ProjectID, ds[0].ID)
	if err != nil {
		h.internal(ctx, w, "list attempts", err, "delivery_id", ds[0].ID)
		return
	}
	if len(attempts) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	last := slices.MaxFunc(attempts, func(a, b store.Attempt) int { return a.Number - b.Number })
	for _, hd := range last.ResponseHeaders {
		if strings.EqualFold(hd.Name, "Content-Type") {
			w.Header().Set("Content-Type", inertContentType(hd.Value))
			break
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.WriteHeader(cmp.Or(last.ResponseStatusCode, http.StatusOK))
	_, _ = w.Write([]byte(last.ResponseBody))
}

// inertContentType is the content type the result URL serves a receiver's body with: the receiver's own unless
// a browser would render it as a document that runs script (HTML, XHTML, SVG, XML), which becomes text/plain.
func inertContentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	switch {
	case mt == "text/html", mt == "application/xhtml+xml", mt == "image/svg+xml", mt == "text/xml",
		mt == "application/xml", strings.HasSuffix(mt, "+xml"), mt == "text/javascript", mt == "application/javascript",
		mt == "text/xsl", mt == "application/pdf", mt == "multipart/x-mixed-replace":
		return "text/plain; charset=utf-8"
	}
	return ct
}
