package trigger_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/trigger"
)

func TestMethodsPathAndQuery(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		require.Equal(t, b.srv.URL+"/t/"+trg.Id, trg.Url)

		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			r := b.do(t, method, trg.Url+"/my/custom/path?param-one=One&multi=a&multi=b", "", nil, "Header-One", "first")
			require.Equal(t, http.StatusOK, r.status, "%s: %s", method, r.body)
			e := b.execution(t, r)
			assert.Equal(t, map[string]any{"executionId": e.ID}, r.json(t))
			assert.Equal(t, method, e.Method)
			assert.Equal(t, "my/custom/path", e.PathFragment)
			assert.Equal(t, []store.Header{{Name: "multi", Value: "a"}, {Name: "multi", Value: "b"}, {Name: "param-one", Value: "One"}}, e.QueryParameters)
			assert.Contains(t, e.Headers, store.Header{Name: "Header-One", Value: "first"})
			assert.Equal(t, http.StatusOK, e.Status)
			assert.Equal(t, "order.created", e.EventType)
			p := b.payload(t, e)
			assert.Equal(t, method, p["method"])
			assert.Equal(t, "my/custom/path", p["pathFragment"])
			assert.Equal(t, map[string]any{"param-one": "One", "multi": []any{"a", "b"}}, p["queryParameters"])
			assert.Equal(t, "first", p["headers"].(map[string]any)["header-one"])
			assert.Nil(t, p["data"])
		}
		r := b.do(t, http.MethodOptions, trg.Url, "", nil)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
		assert.Contains(t, r.header.Get("Allow"), "PATCH")

		// Unknown, malformed and disabled triggers are 404 with a JSON error.
		for _, url := range []string{"/t/trg_01unknown", "/t/nope", "/t/"} {
			r := b.post(t, url, "application/json", "{}")
			assert.Equal(t, http.StatusNotFound, r.status, url)
			assert.NotEmpty(t, r.json(t)["error"])
		}
		_, err := b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, Enabled: new(false)}))
		require.NoError(t, err)
		b.clock.Advance(trigger.DefaultTriggerCacheTTL) // changes take effect once the cached trigger expires
		r = b.post(t, trg.Url, "application/json", "{}")
		assert.Equal(t, http.StatusNotFound, r.status)

		assert.Equal(t, 5.0, requests(t, b, "200"))
		assert.Equal(t, 4.0, requests(t, b, "404"))
	})
}

func TestBodies(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})

		t.Run("json", func(t *testing.T) {
			body := `{"renderId":51266,"big":12345678901234567890,"status":"complete","nested":{"ok":true}}`
			r := b.post(t, trg.Url, "application/json; charset=utf-8", body)
			require.Equal(t, http.StatusOK, r.status, r.body)
			e := b.execution(t, r)
			assert.Equal(t, body, e.RawBody)
			assert.False(t, e.RawBodyBase64)
			assert.JSONEq(t, body, string(e.Body))
			assert.Equal(t, "application/json; charset=utf-8", e.ContentType)
			p := b.payload(t, e)
			data := p["data"].(map[string]any)
			assert.Equal(t, "complete", data["status"])
			assert.Equal(t, 51266.0, data["renderId"])
			assert.Equal(t, body, p["rawBody"])
		})
		t.Run("malformed json", func(t *testing.T) {
			r := b.post(t, trg.Url, "application/json", "{bad-data")
			assert.Equal(t, http.StatusBadRequest, r.status)
			assert.Equal(t, `{"error":"Received malformed JSON payload."}`, r.body)
			e := b.execution(t, r) // recorded, but published nothing
			assert.Equal(t, http.StatusBadRequest, e.Status)
			assert.Empty(t, e.EventID)
			assert.Equal(t, "{bad-data", e.RawBody)
		})
		t.Run("form", func(t *testing.T) {
			r := b.post(t, trg.Url, "application/x-www-form-urlencoded", "name=Taylor&tag=a&tag=b&empty=")
			require.Equal(t, http.StatusOK, r.status, r.body)
			data := b.payload(t, b.execution(t, r))["data"]
			assert.Equal(t, map[string]any{"name": "Taylor", "tag": []any{"a", "b"}, "empty": ""}, data)
		})
		t.Run("multipart", func(t *testing.T) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			require.NoError(t, mw.WriteField("person", `{"firstname":"Taylor"}`))
			png := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}
			fw, err := mw.CreateFormFile("photo", "taylor.png")
			require.NoError(t, err)
			_, _ = fw.Write(png)
			require.NoError(t, mw.Close())
			r := b.post(t, trg.Url, mw.FormDataContentType(), buf.String())
			require.Equal(t, http.StatusOK, r.status, r.body)
			e := b.execution(t, r)
			assert.True(t, e.RawBodyBase64, "the body holds binary bytes")
			raw, err := base64.StdEncoding.DecodeString(e.RawBody)
			require.NoError(t, err)
			assert.Equal(t, buf.Bytes(), raw)
			data := b.payload(t, e)["data"].(map[string]any)
			assert.Equal(t, `{"firstname":"Taylor"}`, data["person"])
			assert.Equal(t, map[string]any{
				"filename": "taylor.png", "contentType": "application/octet-stream", "size": 8.0,
				"content": base64.StdEncoding.EncodeToString(png),
			}, data["photo"])
		})
		t.Run("malformed multipart", func(t *testing.T) {
			r := b.post(t, trg.Url, "multipart/form-data", "no boundary")
			assert.Equal(t, http.StatusBadRequest, r.status)
			assert.Equal(t, `{"error":"Received malformed multipart payload."}`, r.body)
		})
		t.Run("text", func(t *testing.T) {
			r := b.post(t, trg.Url, "text/xml", "<notification><challenge>abc</challenge></notification>")
			require.Equal(t, http.StatusOK, r.status, r.body)
			p := b.payload(t, b.execution(t, r))
			assert.Equal(t, "<notification><challenge>abc</challenge></notification>", p["data"])
			assert.Equal(t, false, p["rawBodyBase64"])
		})
		t.Run("binary", func(t *testing.T) {
			img := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0x0d, 0xfe}
			r := b.post(t, trg.Url, "image/png", string(img))
			require.Equal(t, http.StatusOK, r.status, r.body)
			e := b.execution(t, r)
			assert.True(t, e.RawBodyBase64)
			assert.Equal(t, base64.StdEncoding.EncodeToString(img), e.RawBody)
			assert.Nil(t, e.Body)
			p := b.payload(t, e)
			assert.Equal(t, base64.StdEncoding.EncodeToString(img), p["rawBody"])
			assert.Equal(t, true, p["rawBodyBase64"])
			assert.Equal(t, "image/png", p["contentType"])
		})
		t.Run("nul bytes are stored", func(t *testing.T) {
			r := b.post(t, trg.Url+"/a%00b?q=%00", "application/json", `{"k\u0000":"v\u0000"}`)
			require.Equal(t, http.StatusOK, r.status, r.body)
			data := b.payload(t, b.execution(t, r))["data"]
			assert.Equal(t, map[string]any{"k\uFFFD": "v\uFFFD"}, data)
		})
	})
}

func TestLimits(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, func(c *trigger.Config, _ *api.Deps) { c.MaxPayloadBytes = 64 << 10 })
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		other := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})

		t.Run("chunked body over the limit", func(t *testing.T) {
			body := io.MultiReader(strings.NewReader(`{"a":"`), strings.NewReader(strings.Repeat("x", 2<<20)), strings.NewReader(`"}`))
			r := b.do(t, http.MethodPost, trg.Url, "application/json", io.NopCloser(body)) // unknown length: chunked
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
			assert.Contains(t, r.json(t)["error"], "1048576")
		})
		t.Run("declared length over the trigger's limit", func(t *testing.T) {
			small := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", MaxBodyBytes: 100})
			assert.Equal(t, int64(100), small.MaxBodyBytes)
			r := b.post(t, small.Url, "text/plain", strings.Repeat("y", 101))
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
			assert.Equal(t, http.StatusOK, b.post(t, small.Url, "text/plain", strings.Repeat("y", 100)).status)
		})
		t.Run("payload over the limit is recorded", func(t *testing.T) {
			r := b.post(t, trg.Url, "text/plain", strings.Repeat("z", 40<<10)) // data + rawBody > 64 KiB
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
			e := b.execution(t, r)
			assert.Equal(t, http.StatusRequestEntityTooLarge, e.Status)
			assert.Empty(t, e.EventID)
		})
		t.Run("rate limit", func(t *testing.T) {
			rated := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
			require.EqualValues(t, 50, rated.RateLimitPerSecond)
			for i := range 50 {
				require.Equal(t, http.StatusOK, b.post(t, rated.Url, "application/json", "{}").status, "request %d", i+1)
			}
			r := b.post(t, rated.Url, "application/json", "{}")
			assert.Equal(t, http.StatusTooManyRequests, r.status)
			assert.Contains(t, r.json(t)["error"], "50 requests/second")
			retry, err := strconv.Atoi(r.header.Get("Retry-After"))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, retry, 1)
			assert.Equal(t, http.StatusOK, b.post(t, other.Url, "application/json", "{}").status, "other triggers have their own window")
			b.clock.Advance(999 * time.Millisecond) // 50 requests in the last second: still 429
			assert.Equal(t, http.StatusTooManyRequests, b.post(t, rated.Url, "application/json", "{}").status)
			b.clock.Advance(time.Millisecond) // the first of them is a second old
			assert.Equal(t, http.StatusOK, b.post(t, rated.Url, "application/json", "{}").status)
		})
	})
}

func TestResponses(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Response: &hookdv1.TriggerResponse{
			Status: 202, ContentType: "text/plain", Body: "challenge-accepted",
		}})
		r := b.post(t, trg.Url, "application/json", `{}`)
		assert.Equal(t, http.StatusAccepted, r.status)
		assert.Equal(t, "text/plain", r.header.Get("Content-Type"))
		assert.Equal(t, "challenge-accepted", r.body)
		assert.Equal(t, http.StatusAccepted, b.execution(t, r).Status)

		t.Run("api key", func(t *testing.T) {
			keyed := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", ApiKeyHeader: "X-Api-Key"})
			require.NotEmpty(t, keyed.ApiKey, "generated and shown to ADMIN")
			assert.Equal(t, http.StatusUnauthorized, b.post(t, keyed.Url, "application/json", "{}").status)
			assert.Equal(t, http.StatusUnauthorized, b.post(t, keyed.Url, "application/json", "{}", "X-Api-Key", "wrong").status)
			r := b.post(t, keyed.Url, "application/json", "{}", "x-api-key", keyed.ApiKey)
			require.Equal(t, http.StatusOK, r.status)
			e := b.execution(t, r)
			assert.Contains(t, e.Headers, store.Header{Name: "X-Api-Key", Value: secret.Masked, Private: true},
				"the trigger's own key is not kept (the store has only its hash)")
			_, leaked := b.payload(t, e)["headers"].(map[string]any)["x-api-key"]
			assert.False(t, leaked, "the trigger key never reaches webhook receivers")
		})
	})
}

func TestRoutes(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		shared := b.create(t, &hookdv1.CreateTriggerRequest{Routes: []*hookdv1.TriggerRoute{
			{Header: "X-Event", Value: "paid", EventType: "order.paid"},
			{JsonField: "data.kind", Value: "user", EventType: "user.created"},
			{JsonField: "type", Value: "order", EventType: "order.created"},
		}})
		cases := []struct {
			name, body string
			headers    []string
			status     int
			eventType  string
		}{
			{"header", `{"type":"order"}`, []string{"X-Event", "paid"}, 200, "order.paid"},
			{"nested json field", `{"data":{"kind":"user"},"type":"order"}`, nil, 200, "user.created"},
			{"top-level json field", `{"type":"order"}`, []string{"X-Event", "other"}, 200, "order.created"},
			{"no match", `{"type":"refund"}`, nil, 404, ""},
			{"no json", ``, nil, 404, ""},
		}
		for _, c := range cases {
			r := b.post(t, shared.Url, "application/json", c.body, c.headers...)
			require.Equal(t, c.status, r.status, "%s: %s", c.name, r.body)
			e := b.execution(t, r)
			assert.Equal(t, c.eventType, e.EventType, c.name)
			if c.status == 404 {
				assert.Equal(t, "no route matches the request", r.json(t)["error"])
				assert.Empty(t, e.EventID)
			}
		}
		// The trigger's event_type (or a route without header/json_field) is the default route.
		fallback := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Routes: []*hookdv1.TriggerRoute{
			{Header: "X-Event", Value: "paid", EventType: "order.paid"},
		}})
		assert.Equal(t, "order.created", b.execution(t, b.post(t, fallback.Url, "application/json", "{}")).EventType)
		catchAll := b.create(t, &hookdv1.CreateTriggerRequest{Routes: []*hookdv1.TriggerRoute{
			{JsonField: "n", Value: "1", EventType: "order.paid"}, {EventType: "user.created"},
		}})
		assert.Equal(t, "order.paid", b.execution(t, b.post(t, catchAll.Url, "application/json", `{"n":1}`)).EventType)
		assert.Equal(t, "user.created", b.execution(t, b.post(t, catchAll.Url, "application/json", `{"n":2}`)).EventType)
	})
}

func TestSignatures(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		body := `{"action":"opened"}`

		t.Run("hmac sha256", func(t *testing.T) {
			trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Signature: &hookdv1.TriggerSignature{
				Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: "It's a Secret to Everybody",
				Header: "X-Hub-Signature-256", Prefix: "sha256=",
			}})
			mac := hmac.New(sha256.New, []byte("It's a Secret to Everybody"))
			mac.Write([]byte(body))
			sum := mac.Sum(nil)
			assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", body, "X-Hub-Signature-256", "sha256="+hex.EncodeToString(sum)).status)
			assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", body, "X-Hub-Signature-256", "sha256="+base64.StdEncoding.EncodeToString(sum)).status)
			for _, bad := range []string{"", "sha256=", "sha256=" + hex.EncodeToString(sum[:31]), hex.EncodeToString(sum), "sha256=" + strings.Repeat("0", 64)} {
				r := b.post(t, trg.Url, "application/json", body, "X-Hub-Signature-256", bad)
				assert.Equal(t, http.StatusUnauthorized, r.status, "signature %q", bad)
				assert.Equal(t, "invalid signature", r.json(t)["error"])
			}
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", body+" ", "X-Hub-Signature-256", "sha256="+hex.EncodeToString(sum)).status)
		})
		t.Run("standard webhooks", func(t *testing.T) {
			secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
			trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Signature: &hookdv1.TriggerSignature{
				Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_STANDARD_WEBHOOKS, Secret: secret,
			}})
			wh, err := standardwebhooks.NewWebhook(secret)
			require.NoError(t, err)
			sign := func(at time.Time, payload string) []string {
				sig, err := wh.Sign("msg_1", at, []byte(payload))
				require.NoError(t, err)
				return []string{"webhook-id", "msg_1", "webhook-timestamp", strconv.FormatInt(at.Unix(), 10), "webhook-signature", sig}
			}
			now := b.clock.Now()
			assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", body, sign(now, body)...).status)
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", body+" ", sign(now, body)...).status)
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", body, sign(now.Add(-10*time.Minute), body)...).status, "too old")
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", body).status, "unsigned")
		})
	})
}

func TestSync(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		signals := &trigger.TestSignals{}
		signals.Published.Init()
		b := setup(t, st, func(c *trigger.Config, _ *api.Deps) { c.Signals = signals })
		b.subscribe(t, "order.created")
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Sync: true, SyncTimeout: durationpb.New(20 * time.Second)})

		// finish plays the sender: once the call's event is published, it claims the delivery and stores the
		// outcome of one attempt.
		finish := func(t *testing.T, o store.Outcome) {
			t.Helper()
			signals.Published.Wait(t)
			got, err := st.(store.Queue).ClaimDeliveries(b.ctx, b.clock.Now(), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
			require.NoError(t, err)
			claimed := got.Deliveries
			require.Len(t, claimed, 1)
			o.DeliveryID, o.ClaimToken, o.Attempts = claimed[0].ID, claimed[0].ClaimToken, claimed[0].Attempts+1
			require.NoError(t, st.(store.Queue).CompleteDeliveries(b.ctx, []store.Outcome{o}, b.clock.Now()))
		}
		call := func() <-chan response {
			ch := make(chan response, 1)
			go func() { ch <- b.post(t, trg.Url, "application/json", `{"item":"Widgets"}`) }()
			return ch
		}

		t.Run("done", func(t *testing.T) {
			ch := call()
			finish(t, store.Outcome{Status: store.StatusDone, LastStatusCode: 200, Attempt: &store.Attempt{
				StartTime: b.clock.Now(), RequestMethod: "POST", RequestURL: "https://example.com/hook", ResponseStatusCode: 200,
				ResponseHeaders: []store.Header{{Name: "Content-Type", Value: "application/json"}}, ResponseBody: `{"item":"Widgets","quantity":5}`,
			}})
			r := <-ch
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			e := b.execution(t, r)
			assert.Equal(t, http.StatusSeeOther, e.Status)
			loc := r.header.Get("Location")
			require.True(t, strings.HasPrefix(loc, b.srv.URL+"/v1/executions/"+e.ID+"/result?token="), loc)
			res := b.do(t, http.MethodGet, loc, "", nil)
			assert.Equal(t, http.StatusOK, res.status)
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			assert.Equal(t, `{"item":"Widgets","quantity":5}`, res.body)
		})
		t.Run("failed", func(t *testing.T) {
			ch := call()
			finish(t, store.Outcome{Status: store.StatusFailed, LastStatusCode: 422, Reason: "The widget requested is not in the database",
				Attempt: &store.Attempt{StartTime: b.clock.Now(), ResponseStatusCode: 422, ResponseBody: `{"reason":"The widget requested is not in the database"}`}})
			r := <-ch
			require.Equal(t, http.StatusSeeOther, r.status)
			res := b.do(t, http.MethodGet, r.header.Get("Location"), "", nil)
			assert.Equal(t, http.StatusBadRequest, res.status)
			assert.Equal(t, `{"error":"The widget requested is not in the database"}`, res.body)
		})
		t.Run("timeout", func(t *testing.T) {
			_, err := b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, SyncTimeout: durationpb.New(150 * time.Millisecond)}))
			require.NoError(t, err)
			b.clock.Advance(trigger.DefaultTriggerCacheTTL)
			start := time.Now()
			r := <-call()
			require.Equal(t, http.StatusSeeOther, r.status)
			assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
			res := b.do(t, http.MethodGet, r.header.Get("Location"), "", nil)
			assert.Equal(t, http.StatusAccepted, res.status)
			assert.JSONEq(t, `{"status":"pending"}`, res.body)
		})
		t.Run("result url checks", func(t *testing.T) {
			exe := b.execution(t, b.post(t, trg.Url, "application/json", `{}`))
			assert.Equal(t, http.StatusNotFound, b.do(t, "GET", "/v1/executions/exe_01nosuchexecution0000000000/result", "", nil).status, "unknown execution")
			assert.Equal(t, http.StatusMethodNotAllowed, b.do(t, "POST", "/v1/executions/"+exe.ID+"/result", "", nil).status)
		})
	})
}

// requests reads hookd_trigger_requests_total{code}.
func requests(t *testing.T, b *bundle, code string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "hookd_trigger_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == code {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
