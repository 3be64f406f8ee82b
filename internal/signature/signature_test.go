package signature_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/store"
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

// TestEd25519 checks `v1a` signatures (Standard Webhooks asymmetric signing) with Go's crypto/ed25519: the
// signature of "<webhook-id>.<webhook-timestamp>.<body>" verifies with the whpk_ public key, and fails with
// another key or a changed body, id or timestamp.
func TestEd25519(t *testing.T) {
	private, public, err := signature.NewEd25519Key()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(private, "whsk_"))
	require.True(t, strings.HasPrefix(public, "whpk_"))
	derived, err := signature.PublicKey(private)
	require.NoError(t, err)
	assert.Equal(t, public, derived)
	pub := decodePublic(t, public)
	require.Len(t, pub, ed25519.PublicKeySize, "whpk_ holds the 32-byte key")

	_, otherPublic, err := signature.NewEd25519Key()
	require.NoError(t, err)
	other := decodePublic(t, otherPublic)

	ts := time.Now().Truncate(time.Second)
	at := strconv.FormatInt(ts.Unix(), 10)
	body := []byte(`{"id":"evt_1","data":{"a":1}}`)
	sig := signature.Sign(private, "dlv_123", ts, body)
	require.True(t, strings.HasPrefix(sig, "v1a,"), sig)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1a,"))
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(pub, []byte("dlv_123."+at+"."+string(body)), raw), "verifies with the public key")
	assert.False(t, ed25519.Verify(other, []byte("dlv_123."+at+"."+string(body)), raw), "fails with another key")
	assert.False(t, ed25519.Verify(pub, []byte("dlv_123."+at+".{}"), raw), "fails for another body")
	assert.False(t, ed25519.Verify(pub, []byte("dlv_124."+at+"."+string(body)), raw), "fails for another id")
	assert.False(t, ed25519.Verify(pub, []byte("dlv_123.1."+string(body)), raw), "fails for another time")

	// During a change of algorithm both kinds sign: v1 with the old whsec_ secret, v1a with the new key.
	hmac, err := signature.NewSecret()
	require.NoError(t, err)
	h := http.Header{}
	signature.SetHeaders(h, "dlv_123", ts, body, private, hmac)
	sigs := strings.Split(h.Get("webhook-signature"), " ")
	require.Len(t, sigs, 2)
	assert.Equal(t, sig, sigs[0])
	assert.True(t, strings.HasPrefix(sigs[1], "v1,"))
	wh, err := standardwebhooks.NewWebhook(hmac)
	require.NoError(t, err)
	assert.NoError(t, wh.Verify(body, h), "an HMAC receiver still verifies during the overlap")
}

// TestEd25519Vector derives the public key of RFC 8032's first test vector and checks its signature of the
// empty message, so whsk_/whpk_ hold the standard key encodings.
func TestEd25519Vector(t *testing.T) {
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	wantPub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	wantSig, _ := hex.DecodeString("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	for _, key := range [][]byte{seed, append(append([]byte{}, seed...), wantPub...)} {
		private := "whsk_" + base64.StdEncoding.EncodeToString(key)
		public, err := signature.PublicKey(private)
		require.NoError(t, err)
		assert.Equal(t, "whpk_"+base64.StdEncoding.EncodeToString(wantPub), public)
		priv, err := signature.PrivateKey(private)
		require.NoError(t, err)
		assert.Equal(t, wantSig, ed25519.Sign(priv, nil))
	}
	for _, bad := range []string{"whsk_", "whsk_!!", "whsk_" + base64.StdEncoding.EncodeToString(seed[:31]),
		"whsk_" + base64.StdEncoding.EncodeToString(append(append([]byte{}, seed...), seed...)), "whsec_abc"} {
		_, err := signature.PublicKey(bad)
		assert.Error(t, err, bad)
	}
	assert.Empty(t, signature.Sign("whsk_!!", "dlv_1", time.Unix(1, 0), nil), "a damaged key signs nothing")
}

func decodePublic(t *testing.T, public string) ed25519.PublicKey {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(public, "whpk_"))
	require.NoError(t, err)
	return ed25519.PublicKey(b)
}
