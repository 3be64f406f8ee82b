package hookd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	hookd "github.com/hookd/hookd/sdk/go"
)

// Publishing an event. The idempotency key makes the call safe to retry: here the server's first
// answer is a 503, and the client sends the call again by itself.
func Example_publish() {
	url, attempts, stop := startExampleServer() // stands in for hookd, e.g. "http://127.0.0.1:8080"
	defer stop()

	client := hookd.NewClient(url, "hk_example_key", hookd.WithRetryWait(time.Millisecond, 10*time.Millisecond))
	payload, err := structpb.NewStruct(map[string]any{"email": "ada@example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := client.Events.PublishEvent(context.Background(), connect.NewRequest(&hookdv1.PublishEventRequest{
		EventType:      "user.created",
		Subject:        "cus_42",
		IdempotencyKey: "signup-42", // a repeat within 24 h returns this result instead of publishing again
		Payload:        payload,
	}))
	if err != nil {
		fmt.Println("publish:", connect.CodeOf(err), err)
		return
	}
	fmt.Println(res.Msg.GetEvent().GetId(), res.Msg.GetEvent().GetEventType(), res.Msg.GetDeliveryIds())
	fmt.Println("attempts:", attempts.Load())
	// Output:
	// evt_01 user.created [dlv_01 dlv_02]
	// attempts: 2
}

// Errors are *connect.Error values with a code.
func ExampleIsNotFound() {
	url, _, stop := startExampleServer()
	defer stop()

	client := hookd.NewClient(url, "hk_example_key")
	_, err := client.Integrations.GetIntegration(context.Background(), connect.NewRequest(&hookdv1.GetIntegrationRequest{Id: "int_nope"}))
	switch {
	case hookd.IsNotFound(err):
		fmt.Println("no such integration:", err)
	case err != nil:
		fmt.Println("get integration:", hookd.CodeOf(err), err)
	}
	// Output: no such integration: not_found: integration "int_nope" not found
}

// Verifying a webhook with the body exactly as received, for example when the webhook has a
// body_template (Handler does this for the default envelope).
func ExampleVerify() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the webhook's secret
	body := []byte(`{"invoice":"in_7","amount":4200}`)
	header := hmacSigned(secret, "dlv_01", body) // the headers hookd sent with body

	if err := hookd.Verify(secret, header, body); err != nil {
		fmt.Println("reject:", err)
		return
	}
	fmt.Println("authentic")

	err := hookd.Verify(secret, header, []byte(`{"invoice":"in_7","amount":1}`))
	fmt.Println("tampered body rejected:", errors.Is(err, hookd.ErrVerification))
	// Output:
	// authentic
	// tampered body rejected: true
}

// Webhooks with signing_algorithm SIGNING_ALGORITHM_ED25519 are verified with their public key
// (Webhook.public_key, "whpk_…"), which every role may read.
func ExampleVerify_ed25519() {
	priv := ed25519.NewKeyFromSeed([]byte("hookd ed25519 test vector seed 1")) // hookd's signing key
	publicKey := "whpk_" + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	body := []byte(`{"invoice":"in_7","amount":4200}`)
	header := ed25519Signed(priv, "dlv_01", body) // the headers hookd sent with body

	fmt.Println(publicKey)
	fmt.Println("authentic:", hookd.Verify(publicKey, header, body) == nil)
	other := "whpk_SQp0qYMLHrPzZoZW+Rhr0TtVjKe93dYvIxpmH71IiIU="
	fmt.Println("another key rejected:", errors.Is(hookd.Verify(other, header, body), hookd.ErrVerification))
	// Output:
	// whpk_wYCjFOq+Df4lfvZ+ZZTCei5VIjokcso93NPh1nDYrSM=
	// authentic: true
	// another key rejected: true
}

// A receiver: Handler verifies the signature, decodes the event envelope and answers hookd.
func ExampleHandler() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the webhook's secret (or its whpk_ public key)
	h := hookd.Handler(secret, func(ctx context.Context, e *hookd.Envelope) error {
		// e.Meta.DeliveryID (= the webhook-id header) is stable across retries: deduplicate on it.
		var user struct {
			Email string `json:"email"`
		}
		if err := e.DecodeData(&user); err != nil {
			return &hookd.ResponseError{StatusCode: http.StatusBadRequest, Reason: err.Error()} // not retried
		}
		fmt.Println(e.Type, e.ID, e.Meta.DeliveryID, user.Email)
		return nil // 200: the delivery is DONE; other errors answer 500 and hookd retries
	})
	// In a server: http.Handle("/webhooks/hookd", h). Here, one request as hookd sends it:
	body := []byte(`{"id":"evt_01","type":"user.created","timestamp":"2026-01-02T03:04:05Z",` +
		`"data":{"email":"ada@example.com"},"meta":{"deliveryId":"dlv_01","attempt":1,"link":""}}`)
	for _, key := range []string{secret, "whsec_c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1yaWdodC1vbmU="} {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/hookd", bytes.NewReader(body))
		req.Header = hmacSigned(key, "dlv_01", body)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// user.created evt_01 dlv_01 ada@example.com
	// 200
	// 401
}

// hmacSigned returns the Standard Webhooks headers hookd sends for body, signed with secret now.
func hmacSigned(secret, id string, body []byte) http.Header {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		panic(err)
	}
	return http.Header{
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
		"Webhook-Signature": {sig},
	}
}

// ed25519Signed returns the headers hookd sends for body with a v1a signature by priv, now.
func ed25519Signed(priv ed25519.PrivateKey, id string, body []byte) http.Header {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := ed25519.Sign(priv, []byte(id+"."+ts+"."+string(body)))
	return http.Header{
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {ts},
		"Webhook-Signature": {"v1a," + base64.StdEncoding.EncodeToString(sig)},
	}
}

// exampleAPI is the stand-in hookd of the examples: PublishEvent answers 503 once, then succeeds;
// GetIntegration knows no integration.
type exampleAPI struct {
	hookdv1connect.UnimplementedEventServiceHandler
	hookdv1connect.UnimplementedIntegrationServiceHandler
}

func (exampleAPI) PublishEvent(_ context.Context, req *connect.Request[hookdv1.PublishEventRequest]) (*connect.Response[hookdv1.PublishEventResponse], error) {
	return connect.NewResponse(&hookdv1.PublishEventResponse{
		Event:       &hookdv1.Event{Id: "evt_01", EventType: req.Msg.GetEventType(), Subject: req.Msg.GetSubject()},
		DeliveryIds: []string{"dlv_01", "dlv_02"},
	}), nil
}

func (exampleAPI) GetIntegration(_ context.Context, req *connect.Request[hookdv1.GetIntegrationRequest]) (*connect.Response[hookdv1.GetIntegrationResponse], error) {
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("integration %q not found", req.Msg.GetId()))
}

// startExampleServer serves exampleAPI behind a check of the API key; the first PublishEvent gets a
// 503. It returns the URL, a counter of PublishEvent requests and a stop function.
func startExampleServer() (string, *atomic.Int32, func()) {
	var publishes atomic.Int32
	mux := http.NewServeMux()
	mux.Handle(hookdv1connect.NewEventServiceHandler(exampleAPI{}))
	mux.Handle(hookdv1connect.NewIntegrationServiceHandler(exampleAPI{}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer hk_example_key" {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == hookdv1connect.EventServicePublishEventProcedure && publishes.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	return srv.URL, &publishes, srv.Close
}
