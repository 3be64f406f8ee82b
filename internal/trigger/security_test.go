package trigger_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/quota"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/trigger"
)

// A public trigger cannot fill the disk or blow up List calls: a 1 MiB body answered 413 stores no body, and
// ListExecutions carries no bodies (GetExecution does).
func TestRejectedBodiesAreNotStored(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", MaxBodyBytes: 4 << 20})
		big := `{"blob":"` + strings.Repeat("x", 1<<20) + `"}`
		for range 3 {
			r := b.post(t, trg.Url, "application/json", big)
			require.Equal(t, http.StatusRequestEntityTooLarge, r.status, r.body)
			e := b.execution(t, r)
			assert.Empty(t, e.RawBody, "a 413 keeps no body")
			assert.Nil(t, e.Body)
			assert.True(t, e.BodyTruncated)
			assert.Equal(t, http.StatusRequestEntityTooLarge, e.Status)
		}
		// Over the trigger's own body limit: 413 before the body is read, recorded without it.
		small := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", MaxBodyBytes: 1024})
		r := b.post(t, small.Url, "application/json", big)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		e := b.execution(t, r)
		assert.Empty(t, e.RawBody)
		assert.True(t, e.BodyTruncated)

		// Malformed JSON keeps a short prefix only.
		r = b.post(t, trg.Url, "application/json", `{"bad":`+strings.Repeat(" ", 5000))
		require.Equal(t, http.StatusBadRequest, r.status)
		e = b.execution(t, r)
		assert.LessOrEqual(t, len(e.RawBody), trigger.RejectedBodyPrefixBytes)
		assert.True(t, e.BodyTruncated)

		// An accepted body is kept and shown by GetExecution, never by ListExecutions.
		ok := b.post(t, trg.Url, "application/json", `{"item":"Widgets"}`)
		require.Equal(t, http.StatusOK, ok.status)
		list, err := b.admin.ListExecutions(b.ctx, connect.NewRequest(&hookdv1.ListExecutionsRequest{PageSize: 10}))
		require.NoError(t, err)
		require.Len(t, list.Msg.Executions, 6)
		for _, x := range list.Msg.Executions {
			assert.Empty(t, x.RawBody)
			assert.Nil(t, x.Body)
		}
		assert.Less(t, proto.Size(list.Msg), 16<<10, "the list stays small")
		got, err := b.admin.GetExecution(b.ctx, connect.NewRequest(&hookdv1.GetExecutionRequest{Id: ok.header.Get("Hookd-Execution-Id")}))
		require.NoError(t, err)
		assert.Equal(t, `{"item":"Widgets"}`, got.Msg.Execution.RawBody)
		assert.Equal(t, "Widgets", got.Msg.Execution.Body.GetStructValue().GetFields()["item"].GetStringValue())
	})
}

// 401 and 429 answers are recorded as executions (without bodies), as the README promises for every request.
func TestRejectedRequestsAreRecorded(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", ApiKeyHeader: "X-Key", RateLimitPerSecond: 1})
		r := b.post(t, trg.Url, "application/json", `{"secret":"body"}`, "X-Key", "wrong", "Authorization", "Bearer theirs")
		require.Equal(t, http.StatusUnauthorized, r.status)
		e := b.execution(t, r)
		assert.Equal(t, http.StatusUnauthorized, e.Status)
		assert.Empty(t, e.RawBody)
		assert.True(t, e.BodyTruncated)
		assert.Empty(t, e.EventID)
		assert.Contains(t, e.Headers, store.Header{Name: "Authorization", Value: "Bearer theirs", Private: true})

		require.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", `{}`, "X-Key", trg.ApiKey).status)
		r = b.post(t, trg.Url, "application/json", `{"x":1}`, "X-Key", trg.ApiKey)
		require.Equal(t, http.StatusTooManyRequests, r.status)
		e = b.execution(t, r)
		assert.Equal(t, http.StatusTooManyRequests, e.Status)
		assert.Empty(t, e.RawBody)
	})
}

// Credential headers and dropped query parameters never reach the published payload (GetEvent, webhooks).
func TestCredentialsStayOutOfPayloads(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		sig := &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: "s3cret", Header: "X-Sig"}
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Signature: sig,
			DropHeaders: []string{"X-Internal"}, DropQueryParameters: []string{"token"}})
		body := `{"a":1}`
		r := b.post(t, trg.Url+"?token=t0p&keep=1", "application/json", body,
			"Authorization", "Bearer abc", "Cookie", "sid=1", "Proxy-Authorization", "Basic x", "Set-Cookie", "a=b",
			"X-Api-Key", "k", "X-Internal", "secret", "X-Sig", hmacHex("s3cret", body), "X-Kept", "yes")
		require.Equal(t, http.StatusOK, r.status, r.body)
		p := b.payload(t, b.execution(t, r))
		headers := p["headers"].(map[string]any)
		for _, h := range []string{"authorization", "cookie", "proxy-authorization", "set-cookie", "x-api-key", "x-internal", "x-sig"} {
			assert.NotContains(t, headers, h)
		}
		assert.Equal(t, "yes", headers["x-kept"])
		assert.Equal(t, map[string]any{"keep": "1"}, p["queryParameters"])

		got, err := b.member.GetExecution(b.ctx, connect.NewRequest(&hookdv1.GetExecutionRequest{Id: r.header.Get("Hookd-Execution-Id")}))
		require.NoError(t, err)
		for _, q := range got.Msg.Execution.QueryParameters {
			if q.Name == "token" {
				assert.Equal(t, secret.Masked, q.Value, "a dropped query parameter is private in the execution too")
			}
		}
		for _, h := range got.Msg.Execution.Headers {
			if h.Name == "Authorization" || h.Name == "Cookie" || h.Name == "X-Internal" {
				assert.Equal(t, secret.Masked, h.Value, h.Name)
			}
		}
	})
}

// Bad signatures spend a bucket of their own: they never make the real sender's requests 429.
func TestBadSignaturesDoNotSpendTheRate(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		sig := &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: "s3cret", Header: "X-Sig"}
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Signature: sig, RateLimitPerSecond: 3})
		for range 3 {
			assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", `{}`, "X-Sig", "bad").status)
		}
		for i := range 3 {
			body := fmt.Sprintf(`{"n":%d}`, i)
			assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", body, "X-Sig", hmacHex("s3cret", body)).status)
		}
		// Failures are limited too: past DefaultAuthFailureRate they get 429, good requests keep their rate.
		codes := map[int]int{}
		for range trigger.DefaultAuthFailureRate + 2 { // 3 failures were spent above
			codes[b.post(t, trg.Url, "application/json", `{}`, "X-Sig", "bad").status]++
		}
		assert.Equal(t, map[int]int{http.StatusUnauthorized: trigger.DefaultAuthFailureRate - 3, http.StatusTooManyRequests: 5}, codes)
		b.clock.Advance(time.Second)
		body := `{"n":9}`
		assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", body, "X-Sig", hmacHex("s3cret", body)).status)
	})
}

// The sync result URL answers only through its token, only for sync triggers, and never as HTML.
func TestSyncResultURL(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		keys := secret.NewRandom()
		signals := &trigger.TestSignals{}
		signals.Published.Init()
		b := setup(t, st, func(c *trigger.Config, _ *api.Deps) {
			c.Keyring = keys
			c.SyncPollInterval = time.Hour
			c.Signals = signals
		})
		b.subscribe(t, "order.created")
		syncTrg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Sync: true})
		plain := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		token := func(exeID string) string {
			return base64.RawURLEncoding.EncodeToString(keys.MAC("sync-result", []byte(exeID)))
		}

		// A sync call: the waiter wakes on the committed outcome (the poll interval is an hour).
		ch := make(chan response, 1)
		go func() { ch <- b.post(t, syncTrg.Url, "application/json", `{}`) }()
		signals.Published.Wait(t)
		got, err := st.(store.Queue).ClaimDeliveries(b.ctx, b.clock.Now(), store.ClaimRequest{Limit: 10, Lease: time.Minute, PerWebhook: 10})
		require.NoError(t, err)
		claimed := got.Deliveries
		require.Len(t, claimed, 1)
		require.NoError(t, st.(store.Queue).CompleteDeliveries(b.ctx, []store.Outcome{{DeliveryID: claimed[0].ID, ClaimToken: claimed[0].ClaimToken,
			Attempts: claimed[0].Attempts + 1,
			Status:   store.StatusDone, LastStatusCode: 200, Attempt: &store.Attempt{StartTime: b.clock.Now(), ResponseStatusCode: 200,
				ResponseHeaders: []store.Header{{Name: "Content-Type", Value: "text/html"}}, ResponseBody: `<script>alert(1)</script>`}}}, b.clock.Now()))
		var r response
		select {
		case r = <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("the sync request did not wake on the committed outcome")
		}
		require.Equal(t, http.StatusSeeOther, r.status)
		loc := r.header.Get("Location")
		exeID := r.header.Get("Hookd-Execution-Id")
		res := b.do(t, "GET", loc, "", nil)
		require.Equal(t, http.StatusOK, res.status)
		assert.Equal(t, "nosniff", res.header.Get("X-Content-Type-Options"))
		assert.Equal(t, trigger.ContentSecurityPolicy, res.header.Get("Content-Security-Policy"))
		assert.NotContains(t, res.header.Get("Content-Type"), "html")
		assert.Equal(t, `<script>alert(1)</script>`, res.body)

		// The time-ordered id alone, or a wrong token, is not enough.
		assert.Equal(t, http.StatusNotFound, b.do(t, "GET", "/v1/executions/"+exeID+"/result", "", nil).status)
		assert.Equal(t, http.StatusNotFound, b.do(t, "GET", "/v1/executions/"+exeID+"/result?token="+token("exe_other"), "", nil).status)

		// A non-sync execution has no result, whatever the token.
		exe := b.execution(t, b.post(t, plain.Url, "application/json", `{}`))
		assert.Equal(t, http.StatusNotFound, b.do(t, "GET", "/v1/executions/"+exe.ID+"/result?token="+token(exe.ID), "", nil).status)
	})
}

// Multipart fields sent as application/json are parsed: person.data.firstname (product document 003).
func TestMultipartJSONField(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="person"`)
		h.Set("Content-Type", "application/json")
		pw, err := mw.CreatePart(h)
		require.NoError(t, err)
		_, _ = pw.Write([]byte(`{"firstname":"Taylor","lastname":"Reece"}`))
		require.NoError(t, mw.WriteField("note", "plain"))
		require.NoError(t, mw.Close())
		r := b.post(t, trg.Url, mw.FormDataContentType(), buf.String())
		require.Equal(t, http.StatusOK, r.status, r.body)
		data := b.payload(t, b.execution(t, r))["data"].(map[string]any)
		assert.Equal(t, "Taylor", data["person"].(map[string]any)["data"].(map[string]any)["firstname"])
		assert.Equal(t, "plain", data["note"])
	})
}

// A project holds at most its quota of triggers.
func TestTriggerQuota(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, func(_ *trigger.Config, d *api.Deps) { d.Quotas = quota.Limits{Triggers: 2} })
		for range 2 {
			b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		}
		_, err := b.admin.CreateTrigger(b.ctx, connect.NewRequest(&hookdv1.CreateTriggerRequest{Name: "third", EventType: "order.created"}))
		assert.Equal(t, connect.CodeResourceExhausted, connectCode(t, err))
	})
}

// hmacHex is the hex HMAC-SHA256 of body: the signature of an HMAC_SHA256 trigger.
func hmacHex(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}
