package sender_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/actionstatus"
	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// callback posts body to the path of an action-status link and returns the status and JSON reply.
func callback(t *testing.T, h http.Handler, link, body string) (int, map[string]any) {
	t.Helper()
	path := strings.TrimPrefix(link, "https://hookd.example.com")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec.Code, out
}

func TestAsyncActionStatus(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		h := actionstatus.NewHandler(actionstatus.Config{Store: st, Keys: keys, Clock: e.clk, Log: quietLog()})
		rcv := newReceiver(t, reply{status: 202})
		w := e.webhook(t, rcv.URL, func(w *store.Webhook) { w.AsyncStatus = true })
		done := e.publish(t, `{}`, w.ID)[0]
		failed := e.publish(t, `{}`, w.ID)[0]
		expired := e.publish(t, `{}`, w.ID)[0]
		e.runOnce(t, 3)

		links := map[string]string{}
		for _, req := range rcv.requests() {
			var env struct {
				Meta struct {
					DeliveryID string `json:"deliveryId"`
					Link       string
				}
			}
			require.NoError(t, json.Unmarshal(req.body, &env))
			links[env.Meta.DeliveryID] = env.Meta.Link
		}
		for _, id := range []string{done, failed, expired} {
			d := e.delivery(t, id)
			assert.Equal(t, store.StatusWaiting, d.Status)
			assert.Equal(t, e.clk.Now().Add(24*time.Hour), d.NextAttemptTime, "waits 24 h by default")
			require.NotEmpty(t, links[id])
		}

		code, out := callback(t, h, links[done], `{"status":"done"}`)
		assert.Equal(t, http.StatusOK, code)
		d := e.delivery(t, done)
		assert.Equal(t, map[string]any{"status": "ok", "code": float64(200),
			"data": map[string]any{"deliveryId": done, "eventId": d.EventID}}, out)
		assert.Equal(t, store.StatusDone, d.Status)

		code, out = callback(t, h, links[failed], `{"status":"failed","reason":"card declined"}`)
		assert.Equal(t, http.StatusOK, code, out)
		d = e.delivery(t, failed)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, "card declined", d.Reason)

		code, out = callback(t, h, links[done], `{"status":"failed","reason":"again"}`)
		assert.Equal(t, http.StatusNotFound, code, "a used-up token")
		assert.Equal(t, "error", out["status"])
		assert.Equal(t, float64(404), out["code"])
		assert.Equal(t, store.StatusDone, e.delivery(t, done).Status)

		e.clk.Advance(24*time.Hour - time.Second)
		e.runOnce(t, 0)
		assert.Equal(t, store.StatusWaiting, e.delivery(t, expired).Status)
		e.clk.Advance(time.Second)
		e.runOnce(t, 1) // the wait ended: claimed and failed, without a request
		d = e.delivery(t, expired)
		assert.Equal(t, store.StatusFailed, d.Status, "the wait timed out")
		assert.Equal(t, sender.ReasonActionTimeout, d.Reason)
		code, _ = callback(t, h, links[expired], `{"status":"done"}`)
		assert.Equal(t, http.StatusNotFound, code)
		assert.Len(t, rcv.requests(), 3, "WAITING deliveries are not sent again")
	})
}
