package signature_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/server/signature"
	"github.com/hookd/hookd/server/store"
)

func TestSignVectors(t *testing.T) {
	ts := time.Unix(1614265330, 0)
	tests := []struct {
		name, secret, msgID, body, want string
	}{
		// The vector of the Standard Webhooks reference libraries.
		{"reference", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", `{"test": 2432232314}`,
			"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
		{"without prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", `{"test": 2432232314}`,
			"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, signature.Sign(tt.secret, tt.msgID, ts, []byte(tt.body)))
		})
	}
}

func TestHeadersVerifyWithReferenceLibrary(t *testing.T) {
	current, err := signature.NewSecret()
	require.NoError(t, err)
	previous, err := signature.NewSecret()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(current, "whsec_"))
	require.NotEqual(t, current, previous)
	other, err := signature.NewSecret()
	require.NoError(t, err)

	now := time.Now()
	body := []byte(`{"id":"evt_1","data":{"a":1}}`)
	h := http.Header{}
	signature.SetHeaders(h, "dlv_123", now, body, current, previous)

	sigs := strings.Split(h.Get("webhook-signature"), " ")
	require.Len(t, sigs, 2, "both signatures during rotation")
	assert.Equal(t, "dlv_123", h.Get("webhook-id"))
	for _, secret := range []string{current, previous} {
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		assert.NoError(t, wh.Verify(body, h), "a receiver holding either secret verifies")
		assert.Error(t, wh.Verify([]byte(`{"tampered":true}`), h))
	}
	wh, err := standardwebhooks.NewWebhook(other)
	require.NoError(t, err)
	assert.ErrorIs(t, wh.Verify(body, h), standardwebhooks.ErrNoMatchingSignature)

	// A secret that is not base64 signs with its raw bytes.
	raw := http.Header{}
	signature.SetHeaders(raw, "dlv_1", now, body, "whsec_not base64!")
	wh, err = standardwebhooks.NewWebhookRaw([]byte("not base64!"))
	require.NoError(t, err)
	assert.NoError(t, wh.Verify(body, raw))
}

func TestSecrets(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	tests := []struct {
		name string
		w    store.Webhook
		want []string
	}{
		{"no rotation", store.Webhook{Secret: "whsec_a"}, []string{"whsec_a"}},
		{"during rotation", store.Webhook{Secret: "whsec_a", PreviousSecret: "whsec_b", PreviousSecretExpireTime: &later},
			[]string{"whsec_a", "whsec_b"}},
		{"rotation over", store.Webhook{Secret: "whsec_a", PreviousSecret: "whsec_b", PreviousSecretExpireTime: &earlier},
			[]string{"whsec_a"}},
		{"expiring exactly now", store.Webhook{Secret: "whsec_a", PreviousSecret: "whsec_b", PreviousSecretExpireTime: &now},
			[]string{"whsec_a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, signature.Secrets(&tt.w, now))
		})
	}
}
