package trigger_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/store"
)

// stamped is an HMAC_SHA256_TIMESTAMPED signature header value: t=<at>,v1=<hex HMAC of signed>.
func stamped(key string, at time.Time, signed string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strconv.FormatInt(at.Unix(), 10) + "." + signed))
	return fmt.Sprintf("t=%d,v1=%s", at.Unix(), hex.EncodeToString(m.Sum(nil)))
}

// HMAC_SHA256_TIMESTAMPED: a Stripe-style `t=…,v1=…` signature of "<t>.<body>" within the tolerance, accepted
// once; with sign_request_target, of "<t>.<METHOD>\n<target>\n<body>".
func TestTimestampedSignatures(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		const key = "whsec_stripe_like"
		body := `{"id":"evt_1"}`
		create := func(sig *hookdv1.TriggerSignature, rate int32) *hookdv1.Trigger {
			sig.Scheme, sig.Secret, sig.Header = hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256_TIMESTAMPED, key, "Stripe-Signature"
			return b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Signature: sig, RateLimitPerSecond: rate})
		}

		t.Run("body", func(t *testing.T) {
			trg := create(&hookdv1.TriggerSignature{}, 0)
			assert.Equal(t, 5*time.Minute, trg.Signature.TimestampTolerance.AsDuration(), "the default is shown")
			now := b.clock.Now()
			sig := stamped(key, now, body)
			r := b.post(t, trg.Url, "application/json", body, "Stripe-Signature", sig)
			require.Equal(t, http.StatusOK, r.status, r.body)
			_, leaked := b.payload(t, b.execution(t, r))["headers"].(map[string]any)["stripe-signature"]
			assert.False(t, leaked, "the signature header stays out of the payload")

			// The same request again within the window is a replay.
			r = b.post(t, trg.Url, "application/json", body, "Stripe-Signature", sig)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Equal(t, "signature already used", r.json(t)["error"])
			// After the window its timestamp is refused.
			b.clock.Advance(5*time.Minute + time.Second)
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", body, "Stripe-Signature", sig).status)

			b.clock.Advance(time.Second) // a new second of the failed-authentication bucket (10 per second)
			now = b.clock.Now()
			for name, bad := range map[string]string{
				"stale":          stamped(key, now.Add(-6*time.Minute), body),
				"future":         stamped(key, now.Add(6*time.Minute), body),
				"other body":     stamped(key, now, body+" "),
				"other key":      stamped("other", now, body),
				"moved stamp":    strings.Replace(stamped(key, now, body), "t=", "t=1", 1),
				"no v1":          "t=" + strconv.FormatInt(now.Unix(), 10),
				"no t":           "v1=" + strings.SplitN(stamped(key, now, body), "v1=", 2)[1],
				"two t":          stamped(key, now, body) + ",t=" + strconv.FormatInt(now.Unix(), 10),
				"target covered": stamped(key, now, "POST\n\n"+body),
				"none":           "",
			} {
				r := b.post(t, trg.Url, "application/json", body, "Stripe-Signature", bad)
				assert.Equal(t, http.StatusUnauthorized, r.status, name)
			}
			// Several v1 entries (a secret being rolled): one must match; other keys are ignored.
			b.clock.Advance(time.Second) // the failures above spent the failure bucket
			sig = stamped(key, now.Add(-4*time.Minute), body)
			r = b.post(t, trg.Url, "application/json", body, "Stripe-Signature", "v0=abc, "+sig+",v1="+strings.Repeat("0", 64))
			assert.Equal(t, http.StatusOK, r.status, r.body)
		})

		t.Run("tolerance", func(t *testing.T) {
			trg := create(&hookdv1.TriggerSignature{TimestampTolerance: durationpb.New(30 * time.Second)}, 0)
			now := b.clock.Now()
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", body, "Stripe-Signature", stamped(key, now.Add(-45*time.Second), body)).status)
			assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", body, "Stripe-Signature", stamped(key, now.Add(-20*time.Second), body)).status)
		})

		t.Run("request target", func(t *testing.T) {
			trg := create(&hookdv1.TriggerSignature{SignRequestTarget: true}, 0)
			now := b.clock.Now()
			sig := stamped(key, now, "POST\n/orders/42?tenant=acme&n=1\n"+body)
			for name, c := range map[string]struct{ method, url string }{
				"query":  {"POST", trg.Url + "/orders/42?tenant=evil&n=1"},
				"path":   {"POST", trg.Url + "/orders/43?tenant=acme&n=1"},
				"order":  {"POST", trg.Url + "/orders/42?n=1&tenant=acme"},
				"method": {"PUT", trg.Url + "/orders/42?tenant=acme&n=1"},
				"moved":  {"POST", trg.Url + "/orders/42?tenant=acme&n=1%0A"},
			} {
				r := b.do(t, c.method, c.url, "application/json", strings.NewReader(body), "Stripe-Signature", sig)
				assert.Equal(t, http.StatusUnauthorized, r.status, name)
			}
			b.clock.Advance(time.Second)
			r := b.post(t, trg.Url+"/orders/42?tenant=acme&n=1", "application/json", body, "Stripe-Signature", sig)
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.Equal(t, "orders/42", b.execution(t, r).PathFragment)
			// No fragment and no query: the target is empty.
			r = b.post(t, trg.Url, "application/json", body, "Stripe-Signature", stamped(key, now, "POST\n\n"+body))
			assert.Equal(t, http.StatusOK, r.status, r.body)
			// A body-only signature does not do for a trigger that signs the target.
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", `{}`, "Stripe-Signature", stamped(key, now, `{}`)).status)
		})

		t.Run("429 is not a use", func(t *testing.T) {
			trg := create(&hookdv1.TriggerSignature{}, 1)
			now := b.clock.Now()
			require.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", `{}`, "Stripe-Signature", stamped(key, now, `{}`)).status)
			sig := stamped(key, now, body)
			require.Equal(t, http.StatusTooManyRequests, b.post(t, trg.Url, "application/json", body, "Stripe-Signature", sig).status)
			b.clock.Advance(time.Second)
			assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", body, "Stripe-Signature", sig).status,
				"a request refused for the rate may be sent again as it was")
		})

		t.Run("standard webhooks tolerance", func(t *testing.T) {
			trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Signature: &hookdv1.TriggerSignature{
				Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_STANDARD_WEBHOOKS, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
				TimestampTolerance: durationpb.New(15 * time.Minute)}})
			assert.Equal(t, 15*time.Minute, trg.Signature.TimestampTolerance.AsDuration())
		})

		t.Run("validation", func(t *testing.T) {
			ts := hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256_TIMESTAMPED
			for field, sig := range map[string]*hookdv1.TriggerSignature{
				"signature.prefix":              {Scheme: ts, Secret: key, Header: "X-Sig", Prefix: "sha256="},
				"signature.header":              {Scheme: ts, Secret: key},
				"signature.secret":              {Scheme: ts, Header: "X-Sig"},
				"signature.timestamp_tolerance": {Scheme: ts, Secret: key, Header: "X-Sig", TimestampTolerance: durationpb.New(2 * time.Hour)},
				"signature.sign_request_target": {Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: key, Header: "X-Sig", SignRequestTarget: true},
			} {
				_, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(&hookdv1.CreateTriggerRequest{Name: "x", EventType: "order.created", Signature: sig}))
				require.Equal(t, connect.CodeInvalidArgument, connectCode(t, err), field)
				assert.Contains(t, err.Error(), field)
			}
			_, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(&hookdv1.CreateTriggerRequest{Name: "x", EventType: "order.created",
				Signature: &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: key, Header: "X-Sig",
					TimestampTolerance: durationpb.New(time.Minute)}}))
			require.Equal(t, connect.CodeInvalidArgument, connectCode(t, err))
			assert.Contains(t, err.Error(), "signature.timestamp_tolerance")

			// A MEMBER echoing what it read (default tolerance shown, secret masked) changes nothing.
			trg := create(&hookdv1.TriggerSignature{SignRequestTarget: true}, 0)
			got, err := b.member.GetTrigger(b.ctx, connect.NewRequest(&hookdv1.GetTriggerRequest{Id: trg.Id}))
			require.NoError(t, err)
			_, err = b.member.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, Signature: got.Msg.Trigger.Signature}))
			require.NoError(t, err)
		})
	})
}
