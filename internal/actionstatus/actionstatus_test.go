package actionstatus_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/actionstatus"
	"github.com/hookd/hookd/internal/actiontoken"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// keys sign the tests' action-status tokens.
var keys = actiontoken.Static("test key")

// token is the action-status token the sender hands out for d.
func token(d store.Delivery) string { return actiontoken.New(keys, d.ID, d.Resends) }

// waiting stores n deliveries that are WAITING for their callback and returns them.
func waiting(t *testing.T, st *storetest.DB, n int) []store.Delivery {
	t.Helper()
	ctx := context.Background()
	p := &store.Project{Name: "acme", CreateTime: t0}
	require.NoError(t, st.CreateProject(ctx, p))
	w := &store.Webhook{ProjectID: p.ID, Name: "w", SystemName: "w", Method: "POST", URL: "https://example.com/",
		Enabled: true, Secret: "whsec_AAAA", AsyncStatus: true, CreateTime: t0}
	require.NoError(t, st.CreateWebhook(ctx, w))
	require.NoError(t, st.CreateEventType(ctx, &store.EventType{ProjectID: p.ID, Name: "job.run", CreateTime: t0}))
	in := make([]store.PublishInput, n)
	for i := range in {
		in[i] = store.PublishInput{Event: store.Event{EventType: "job.run", Payload: []byte(`{}`)}, WebhookIDs: []string{w.ID}}
	}
	_, err := st.PublishEvents(ctx, store.PublishEventsParams{ProjectID: p.ID, Events: in, Now: t0, IdempotencyWindow: time.Hour})
	require.NoError(t, err)
	res, err := st.ClaimDeliveries(ctx, t0, store.ClaimRequest{Limit: n, Lease: time.Minute, PerWebhook: n})
	require.NoError(t, err)
	claimed := res.Deliveries
	require.Len(t, claimed, n)
	var outcomes []store.Outcome
	for _, c := range claimed {
		outcomes = append(outcomes, store.Outcome{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusWaiting, Attempts: 1,
			NextAttemptTime: t0.Add(24 * time.Hour), LastStatusCode: 202, Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}})
	}
	require.NoError(t, st.CompleteDeliveries(ctx, outcomes, t0))
	out := make([]store.Delivery, n)
	for i, c := range claimed {
		d, err := st.GetDelivery(ctx, p.ID, c.ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusWaiting, d.Status)
		out[i] = *d
	}
	return out
}

func TestHandler(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		ds := waiting(t, st, 3)
		mux := http.NewServeMux()
		mux.Handle("/v1/action-status/", actionstatus.NewHandler(actionstatus.Config{Store: st, Keys: keys, Clock: clock.NewFake(t0.Add(time.Hour))}))
		srv := httptest.NewServer(mux)
		defer srv.Close()

		post := func(method, token, body string) (int, map[string]any) {
			t.Helper()
			req, err := http.NewRequest(method, srv.URL+"/v1/action-status/"+token, strings.NewReader(body))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var out map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			return resp.StatusCode, out
		}
		tok := token(ds[0])
		forged := actiontoken.New(actiontoken.Static("another key"), ds[0].ID, 0)
		for _, tt := range []struct {
			name, method, token, body string
			code                      int
			message                   string
		}{
			{"bad JSON", "POST", tok, `{"status":`, 400, "malformed JSON"},
			{"not an object", "POST", tok, `"done"`, 400, "malformed JSON"},
			{"unknown status", "POST", tok, `{"status":"maybe"}`, 400, "status"},
			{"missing status", "POST", tok, `{}`, 400, "status"},
			{"failed without reason", "POST", tok, `{"status":"failed"}`, 400, "reason"},
			{"failed with blank reason", "POST", tok, `{"status":"failed","reason":"  "}`, 400, "reason"},
			{"unknown token", "POST", "nope", `{"status":"done"}`, 404, "unknown or already used"},
			{"token of another key", "POST", forged, `{"status":"done"}`, 404, "unknown or already used"},
			{"token of another resend", "POST", actiontoken.New(keys, ds[0].ID, 1), `{"status":"done"}`, 404, "unknown or already used"},
			{"empty token", "POST", "", `{"status":"done"}`, 404, "unknown or already used"},
			{"GET", "GET", tok, ``, 405, "POST"},
		} {
			code, out := post(tt.method, tt.token, tt.body)
			assert.Equal(t, tt.code, code, tt.name)
			assert.Equal(t, "error", out["status"], tt.name)
			assert.Equal(t, float64(tt.code), out["code"], tt.name)
			assert.Contains(t, out["message"], tt.message, tt.name)
		}
		d, err := st.GetDelivery(context.Background(), ds[0].ProjectID, ds[0].ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusWaiting, d.Status, "bad callbacks change nothing")

		code, out := post("POST", tok, `{"status":"DONE"}`)
		assert.Equal(t, 200, code)
		assert.Equal(t, map[string]any{"status": "ok", "code": float64(200),
			"data": map[string]any{"deliveryId": ds[0].ID, "eventId": ds[0].EventID}}, out)
		code, _ = post("POST", tok, `{"status":"done"}`)
		assert.Equal(t, 404, code, "a token is used once")

		code, _ = post("POST", token(ds[1]), `{"status":"failed","reason":"out of stock"}`)
		assert.Equal(t, 200, code)
		d, err = st.GetDelivery(context.Background(), ds[1].ProjectID, ds[1].ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, "out of stock", d.Reason)
		assert.Equal(t, t0.Add(time.Hour), d.UpdateTime)

		// A token handed out before tokens were derived (an upgraded database keeps their hashes) still works.
		legacy := "legacy-token-from-0001"
		sum := sha256.Sum256([]byte(legacy))
		_, err = st.Pool().Exec(st.Pool().Rebind(`INSERT INTO action_tokens (hash, delivery_id) VALUES (?, ?)`), sum[:], ds[2].ID)
		require.NoError(t, err)
		code, out = post("POST", legacy, `{"status":"done"}`)
		assert.Equal(t, 200, code, "%v", out)
		d, err = st.GetDelivery(context.Background(), ds[2].ProjectID, ds[2].ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
	})
}

func TestService(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		ds := waiting(t, st, 1)
		mux := http.NewServeMux()
		mux.Handle(hookdv1connect.NewActionStatusServiceHandler(actionstatus.NewService(actionstatus.Config{Store: st, Keys: keys, Clock: clock.NewFake(t0)}),
			connect.WithInterceptors(apierr.NewInterceptor(nil))))
		srv := httptest.NewServer(mux)
		defer srv.Close()
		client := hookdv1connect.NewActionStatusServiceClient(http.DefaultClient, srv.URL)
		ctx := context.Background()
		call := func(token string, status hookdv1.DeliveryStatus, reason string) (*hookdv1.UpdateActionStatusResponse, error) {
			resp, err := client.UpdateActionStatus(ctx, connect.NewRequest(&hookdv1.UpdateActionStatusRequest{
				Token: token, Status: status, Reason: reason}))
			if err != nil {
				return nil, err
			}
			return resp.Msg, nil
		}
		tok := token(ds[0])
		for _, tt := range []struct {
			name   string
			token  string
			status hookdv1.DeliveryStatus
			reason string
			code   connect.Code
			field  string
		}{
			{"no token", "", hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, "", connect.CodeInvalidArgument, "token"},
			{"unspecified status", tok, hookdv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED, "", connect.CodeInvalidArgument, "status"},
			{"retrying status", tok, hookdv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, "", connect.CodeInvalidArgument, "status"},
			{"failed without reason", tok, hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, "", connect.CodeInvalidArgument, "reason"},
			{"unknown token", "nope", hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, "", connect.CodeNotFound, ""},
		} {
			_, err := call(tt.token, tt.status, tt.reason)
			var cerr *connect.Error
			require.True(t, errors.As(err, &cerr), tt.name)
			assert.Equal(t, tt.code, cerr.Code(), tt.name)
			assert.True(t, strings.HasPrefix(cerr.Message(), tt.field), "%s: %s", tt.name, cerr.Message())
		}
		got, err := call(tok, hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED, "declined")
		require.NoError(t, err)
		assert.Equal(t, ds[0].ID, got.GetDeliveryId())
		assert.Equal(t, ds[0].EventID, got.GetEventId())
		d, err := st.GetDelivery(ctx, ds[0].ProjectID, ds[0].ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.Equal(t, "declined", d.Reason)
		_, err = call(tok, hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, "")
		assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "used up")

		// A resend gets a new token: the old one stays worthless when the resent delivery waits again.
		resent, err := st.RetryDelivery(ctx, ds[0].ProjectID, ds[0].ID, t0)
		require.NoError(t, err)
		res, err := st.ClaimDeliveries(ctx, t0, store.ClaimRequest{Limit: 1, Lease: time.Minute, PerWebhook: 1})
		require.NoError(t, err)
		require.Len(t, res.Deliveries, 1)
		c := res.Deliveries[0]
		require.NoError(t, st.CompleteDeliveries(ctx, []store.Outcome{{DeliveryID: c.ID, ClaimToken: c.ClaimToken, Status: store.StatusWaiting,
			Attempts: 2, NextAttemptTime: t0.Add(time.Hour), Attempt: &store.Attempt{StartTime: t0, ResponseStatusCode: 202}}}, t0))
		_, err = call(tok, hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, "")
		assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "the token before the resend")
		_, err = call(token(*resent), hookdv1.DeliveryStatus_DELIVERY_STATUS_DONE, "")
		assert.NoError(t, err, "the resend's token")
	})
}
