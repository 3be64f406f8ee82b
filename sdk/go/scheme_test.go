package hookd

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Signature vectors per style (the TypeScript SDK's tests use the same values): the Standard Webhooks reference
// vector, and the same body signed as GitHub signs it (HMAC-SHA256 keyed with the secret as shown, in hex).
const (
	vectorID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTime    = 1614265330
	vectorBody    = `{"test": 2432232314}`
	vectorStdSig  = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vectorHexBody = "sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c"
)

// TestSchemeVectors: every signature style verifies its vector, under the default and under renamed headers,
// and nothing else.
func TestSchemeVectors(t *testing.T) {
	t.Parallel()
	at := time.Unix(vectorTime, 0)
	body := []byte(vectorBody)
	std := Scheme{SignatureHeader: "X-Sig", IDHeader: "X-Id", TimestampHeader: "X-Time"}
	gh := Scheme{SignatureHeader: "X-Hub-Signature-256", IDHeader: "X-GitHub-Delivery", Style: StyleHexBody}
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, c := range []struct {
		name   string
		scheme Scheme
		header http.Header
		body   string
		ok     bool
	}{
		{"standard, default headers", Scheme{}, h("webhook-id", vectorID, "webhook-timestamp", "1614265330", "webhook-signature", vectorStdSig), vectorBody, true},
		{"standard, renamed headers", std, h("X-Id", vectorID, "X-Time", "1614265330", "X-Sig", vectorStdSig), vectorBody, true},
		{"standard, renamed headers looked for under the old names", Scheme{}, h("X-Id", vectorID, "X-Time", "1614265330", "X-Sig", vectorStdSig), vectorBody, false},
		{"standard, other body", std, h("X-Id", vectorID, "X-Time", "1614265330", "X-Sig", vectorStdSig), `{"test": 1}`, false},
		{"hex body", gh, h("X-Hub-Signature-256", vectorHexBody), vectorBody, true},
		{"hex body during a rotation", gh, h("X-Hub-Signature-256", "sha256=00 "+vectorHexBody), vectorBody, true},
		{"hex body, other body", gh, h("X-Hub-Signature-256", vectorHexBody), `{"test": 1}`, false},
		{"hex body, missing", gh, h(), vectorBody, false},
		{"hex body signature as standard", std, h("X-Id", vectorID, "X-Time", "1614265330", "X-Sig", vectorHexBody), vectorBody, false},
	} {
		err := verifySchemeAt(testSecret, c.scheme, c.header, []byte(c.body), at)
		if c.ok {
			assert.NoError(t, err, c.name)
		} else {
			assert.True(t, errors.Is(err, ErrVerification), "%s: %v", c.name, err)
		}
	}
	assert.Equal(t, vectorHexBody, hexBody(testSecret, body))
}

// TestHandlerScheme: HandlerScheme verifies a GitHub-style webhook and refuses what VerifyScheme refuses.
func TestHandlerScheme(t *testing.T) {
	t.Parallel()
	envelope := `{"id":"evt_1","type":"user.created","timestamp":"2026-01-02T03:04:05Z","data":{},"meta":{"deliveryId":"dlv_1","attempt":1}}`
	called := 0
	srv := httptest.NewServer(HandlerScheme(testSecret, Scheme{SignatureHeader: "X-Hub-Signature-256", Style: StyleHexBody},
		func(context.Context, *Envelope) error { called++; return nil }))
	t.Cleanup(srv.Close)
	for sig, want := range map[string]int{hexBody(testSecret, []byte(envelope)): http.StatusOK, hexBody(otherSecret, []byte(envelope)): http.StatusUnauthorized} {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envelope))
		require.NoError(t, err)
		req.Header.Set("X-Hub-Signature-256", sig)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, want, res.StatusCode)
	}
	assert.Equal(t, 1, called)
}
