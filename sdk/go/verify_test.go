package hookd

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherSecret = "whsec_c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1yaWdodC1vbmU="
)

// ed25519 test vectors made with Go's crypto/ed25519 (ed25519.NewKeyFromSeed of the 32-byte seeds, then
// ed25519.Sign of `msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}`); the TypeScript SDK's
// tests use the same values. TestEd25519Vectors recomputes them.
const (
	testSeed       = "hookd ed25519 test vector seed 1"
	testPublicKey  = "whpk_wYCjFOq+Df4lfvZ+ZZTCei5VIjokcso93NPh1nDYrSM="
	testEdSig      = "v1a,ho79GTfFJvxbyvzd9KjxMLh0bt+JEEDc0gT12qpbACqBnLMLQe3Vdch0BPXUcReBf83ytAtTB/uUhbEdteWRAA=="
	otherSeed      = "hookd ed25519 test vector seed 2"
	otherPublicKey = "whpk_SQp0qYMLHrPzZoZW+Rhr0TtVjKe93dYvIxpmH71IiIU="
	otherEdSig     = "v1a,RShbonffWwvLLge7v2We3OxrsPHDhVOqIvf7Dv5nNnX12OLvcN636Nsqhk+oJjYMcxFQuyYLQqybKgr7DOjIDQ=="
)

// signEd25519 returns headers with a v1a signature by the key of seed.
func signEd25519(seed, id string, ts time.Time, body []byte) http.Header {
	priv := ed25519.NewKeyFromSeed([]byte(seed))
	sig := ed25519.Sign(priv, fmt.Appendf(nil, "%s.%d.%s", id, ts.Unix(), body))
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, fmt.Sprint(ts.Unix()))
	h.Set(HeaderWebhookSignature, "v1a,"+base64.StdEncoding.EncodeToString(sig))
	return h
}

func TestEd25519Vectors(t *testing.T) {
	t.Parallel()
	sent := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	for _, v := range []struct{ seed, pub, sig string }{{testSeed, testPublicKey, testEdSig}, {otherSeed, otherPublicKey, otherEdSig}} {
		pub := ed25519.NewKeyFromSeed([]byte(v.seed)).Public().(ed25519.PublicKey)
		assert.Equal(t, v.pub, PublicKeyPrefix+base64.StdEncoding.EncodeToString(pub))
		assert.Equal(t, v.sig, signEd25519(v.seed, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body).Get(HeaderWebhookSignature))
	}
}

// signed returns the headers the reference library produces for id, ts and body.
func signed(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	sig, err := wh.Sign(id, ts, body)
	require.NoError(t, err)
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, fmt.Sprint(ts.Unix()))
	h.Set(HeaderWebhookSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	sent := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	good := signed(t, testSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)
	// The published Standard Webhooks example vector.
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", good.Get(HeaderWebhookSignature))
	old := signed(t, otherSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)

	with := func(mut func(h http.Header)) http.Header {
		h := good.Clone()
		mut(h)
		return h
	}
	ed := good.Clone()
	ed.Set(HeaderWebhookSignature, testEdSig)
	edWith := func(mut func(h http.Header)) http.Header {
		h := ed.Clone()
		mut(h)
		return h
	}
	tests := []struct {
		name    string
		secret  string // default testSecret
		header  http.Header
		body    []byte
		now     time.Time
		wantErr error // nil = valid
	}{
		{name: "valid", header: good, now: sent},
		{name: "secret without prefix", secret: strings.TrimPrefix(testSecret, "whsec_"), header: good, now: sent},
		{name: "5 minutes late", header: good, now: sent.Add(5 * time.Minute)},
		{name: "5 minutes early", header: good, now: sent.Add(-5 * time.Minute)},
		{name: "rotation: second signature matches", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, old.Get(HeaderWebhookSignature)+" "+good.Get(HeaderWebhookSignature))
		}), now: sent},
		{name: "rotation: first signature matches", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, good.Get(HeaderWebhookSignature)+" "+old.Get(HeaderWebhookSignature))
		}), now: sent},
		{name: "unknown version ignored", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, "v1a,abc "+good.Get(HeaderWebhookSignature))
		}), now: sent},
		{name: "wrong secret", header: old, now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "tampered body", header: good, body: []byte(`{"test": 2432232315}`), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "tampered id", header: with(func(h http.Header) { h.Set(HeaderWebhookID, "msg_other") }), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "replayed with new timestamp", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, fmt.Sprint(sent.Unix()+1)) }), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "only a v2 signature", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, strings.Replace(good.Get(HeaderWebhookSignature), "v1,", "v2,", 1))
		}), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "too old", header: good, now: sent.Add(5*time.Minute + time.Second), wantErr: standardwebhooks.ErrMessageTooOld},
		{name: "too new", header: good, now: sent.Add(-5*time.Minute - time.Second), wantErr: standardwebhooks.ErrMessageTooNew},
		{name: "missing signature", header: with(func(h http.Header) { h.Del(HeaderWebhookSignature) }), now: sent, wantErr: standardwebhooks.ErrRequiredHeaders},
		{name: "missing id", header: with(func(h http.Header) { h.Del(HeaderWebhookID) }), now: sent, wantErr: standardwebhooks.ErrRequiredHeaders},
		{name: "bad timestamp", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "yesterday") }), now: sent, wantErr: standardwebhooks.ErrInvalidHeaders},

		// ed25519 (v1a, whpk_ public keys).
		{name: "ed25519 valid", secret: testPublicKey, header: ed, now: sent},
		{name: "ed25519 rotation: second signature matches", secret: testPublicKey, header: edWith(func(h http.Header) {
			h.Set(HeaderWebhookSignature, otherEdSig+" "+testEdSig)
		}), now: sent},
		{name: "ed25519 beside v1", secret: testPublicKey, header: edWith(func(h http.Header) {
			h.Set(HeaderWebhookSignature, good.Get(HeaderWebhookSignature)+" "+testEdSig)
		}), now: sent},
		{name: "ed25519 5 minutes late", secret: testPublicKey, header: ed, now: sent.Add(5 * time.Minute)},
		{name: "ed25519 wrong key", secret: otherPublicKey, header: ed, now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "ed25519 tampered body", secret: testPublicKey, header: ed, body: []byte(`{"test": 2432232315}`), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "ed25519 tampered id", secret: testPublicKey, header: edWith(func(h http.Header) { h.Set(HeaderWebhookID, "msg_other") }), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "ed25519 tampered timestamp", secret: testPublicKey, header: edWith(func(h http.Header) { h.Set(HeaderWebhookTimestamp, fmt.Sprint(sent.Unix()+1)) }), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "ed25519 signature labelled v1", secret: testPublicKey, header: edWith(func(h http.Header) {
			h.Set(HeaderWebhookSignature, strings.Replace(testEdSig, "v1a,", "v1,", 1))
		}), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "ed25519 truncated signature", secret: testPublicKey, header: edWith(func(h http.Header) { h.Set(HeaderWebhookSignature, testEdSig[:40]) }), now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "ed25519 too old", secret: testPublicKey, header: ed, now: sent.Add(5*time.Minute + time.Second), wantErr: standardwebhooks.ErrMessageTooOld},
		{name: "v1 signature, public key given", secret: testPublicKey, header: good, now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
		{name: "v1a signature, secret given", header: ed, now: sent, wantErr: standardwebhooks.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := testSecret
			if tt.secret != "" {
				secret = tt.secret
			}
			b := body
			if tt.body != nil {
				b = tt.body
			}
			err := verifyAt(secret, tt.header, b, tt.now)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrVerification)
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestVerifyNow(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1"}`)
	require.NoError(t, Verify(testSecret, signed(t, testSecret, "dlv_1", time.Now(), body), body))
	err := Verify(testSecret, signed(t, testSecret, "dlv_1", time.Now().Add(-time.Hour), body), body)
	require.ErrorIs(t, err, standardwebhooks.ErrMessageTooOld)
}

func TestVerifyNowEd25519(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1"}`)
	require.NoError(t, Verify(testPublicKey, signEd25519(testSeed, "dlv_1", time.Now(), body), body))
	err := Verify(testPublicKey, signEd25519(testSeed, "dlv_1", time.Now().Add(-time.Hour), body), body)
	require.ErrorIs(t, err, standardwebhooks.ErrMessageTooOld)
}

func TestVerifyBadKey(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	for _, key := range []string{
		"whsec_not base64!",
		"whpk_not base64!",
		"whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 31)),                         // 31 bytes
		"whsk_" + base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed([]byte(testSeed))), // the private key
	} {
		header := signed(t, testSecret, "dlv_1", time.Now(), body)
		header.Add(HeaderWebhookSignature, testEdSig)
		err := Verify(key, header, body)
		require.Error(t, err, key)
		assert.NotErrorIs(t, err, ErrVerification, "a misconfigured key is not the sender's fault: %s", key)
	}
	_, err := ParsePublicKey(testPublicKey)
	require.NoError(t, err)
	_, err = ParsePublicKey(strings.TrimPrefix(testPublicKey, PublicKeyPrefix))
	require.Error(t, err, "the whpk_ prefix is required")
}

func TestHandler(t *testing.T) {
	t.Parallel()
	envelope := []byte(`{"id":"evt_1","type":"user.created","timestamp":"2026-01-02T03:04:05.123Z","subject":"cus_9",` +
		`"data":{"email":"a@example.com"},"meta":{"deliveryId":"dlv_1","attempt":2,"link":"http://h/v1/action-status/tok"}}`)
	tests := []struct {
		name       string
		key        string // default testSecret
		body       []byte
		header     func(body []byte) http.Header
		fnErr      error
		wantStatus int
		wantReason string
		wantCalled bool
	}{
		{name: "ok", wantStatus: http.StatusOK, wantCalled: true},
		{name: "accepted", fnErr: fmt.Errorf("later: %w", ErrAccepted), wantStatus: http.StatusAccepted, wantCalled: true},
		{name: "handler error", fnErr: errors.New("db down"), wantStatus: http.StatusInternalServerError, wantReason: "db down", wantCalled: true},
		{name: "gone", fnErr: &ResponseError{StatusCode: http.StatusGone, Reason: "unsubscribed"}, wantStatus: http.StatusGone, wantReason: "unsubscribed", wantCalled: true},
		{name: "bad signature", header: func(b []byte) http.Header { return signed(t, otherSecret, "dlv_1", time.Now(), b) }, wantStatus: http.StatusUnauthorized},
		{name: "unsigned", header: func([]byte) http.Header { return http.Header{} }, wantStatus: http.StatusUnauthorized},
		{name: "stale", header: func(b []byte) http.Header { return signed(t, testSecret, "dlv_1", time.Now().Add(-10*time.Minute), b) }, wantStatus: http.StatusUnauthorized},
		{name: "not json", body: []byte(`hello`), wantStatus: http.StatusBadRequest},
		{name: "not an envelope", body: []byte(`{"a":1}`), wantStatus: http.StatusBadRequest},
		{name: "ed25519 ok", key: testPublicKey, header: func(b []byte) http.Header { return signEd25519(testSeed, "dlv_1", time.Now(), b) }, wantStatus: http.StatusOK, wantCalled: true},
		{name: "ed25519 wrong key", key: otherPublicKey, header: func(b []byte) http.Header { return signEd25519(testSeed, "dlv_1", time.Now(), b) }, wantStatus: http.StatusUnauthorized},
		{name: "ed25519 key, hmac signature", key: testPublicKey, wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got *Envelope
			key := testSecret
			if tt.key != "" {
				key = tt.key
			}
			srv := httptest.NewServer(Handler(key, func(_ context.Context, e *Envelope) error {
				got = e
				return tt.fnErr
			}))
			defer srv.Close()
			body := envelope
			if tt.body != nil {
				body = tt.body
			}
			header := signed(t, testSecret, "dlv_1", time.Now(), body)
			if tt.header != nil {
				header = tt.header(body)
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(body)))
			require.NoError(t, err)
			req.Header = header
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, string(raw))
			if tt.wantReason != "" {
				var r struct{ Reason string }
				require.NoError(t, json.Unmarshal(raw, &r))
				assert.Equal(t, tt.wantReason, r.Reason)
			}
			if !tt.wantCalled {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, "evt_1", got.ID)
			assert.Equal(t, "user.created", got.Type)
			assert.Equal(t, "cus_9", got.Subject)
			assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 123e6, time.UTC), got.Timestamp.UTC())
			assert.Equal(t, Meta{DeliveryID: "dlv_1", Attempt: 2, Link: "http://h/v1/action-status/tok"}, got.Meta)
			var data struct{ Email string }
			require.NoError(t, got.DecodeData(&data))
			assert.Equal(t, "a@example.com", data.Email)
		})
	}
}

func TestCompleteAction(t *testing.T) {
	t.Parallel()
	var gotBody map[string]string
	var gotPath, gotType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotType = r.URL.Path, r.Header.Get("Content-Type")
		gotBody = nil
		_ = json.NewDecoder(r.Body).Decode(&gotBody)
		switch r.URL.Path {
		case "/v1/action-status/used":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":"error","code":404,"message":"unknown or used token"}`))
		default:
			_, _ = w.Write([]byte(`{"status":"ok","code":200,"data":{"deliveryId":"dlv_1","eventId":"evt_1"}}`))
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	require.NoError(t, CompleteAction(ctx, srv.URL+"/v1/action-status/tok", false, ""))
	assert.Equal(t, "/v1/action-status/tok", gotPath)
	assert.Equal(t, "application/json", gotType)
	assert.Equal(t, map[string]string{"status": "done"}, gotBody)

	require.NoError(t, CompleteAction(ctx, srv.URL+"/v1/action-status/tok", true, "card declined"))
	assert.Equal(t, map[string]string{"status": "failed", "reason": "card declined"}, gotBody)

	err := CompleteAction(ctx, srv.URL+"/v1/action-status/used", false, "")
	var ae *ActionError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)
	assert.Equal(t, "unknown or used token", ae.Message)
}

// TestHandlerLookup: the key is looked up per request; until it is known the request is refused (401), a lookup
// error answers 503 (hookd retries), and once the key is known the request verifies.
func TestHandlerLookup(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"user.created","timestamp":"2026-01-02T03:04:05Z","data":{},"meta":{"deliveryId":"dlv_1","attempt":1}}`)
	var key string
	var lookupErr error
	called := 0
	srv := httptest.NewServer(HandlerLookup(func(r *http.Request) (string, error) { return key, lookupErr },
		func(context.Context, *Envelope) error { called++; return nil }))
	defer srv.Close()
	send := func() int {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header = signed(t, testSecret, "dlv_1", time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, send(), "no key yet")
	lookupErr = errors.New("vault sealed")
	assert.Equal(t, http.StatusServiceUnavailable, send())
	key, lookupErr = testSecret, nil
	assert.Equal(t, http.StatusOK, send())
	assert.Equal(t, 1, called)
}
