package sender_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// Template bombs fail fast (FAILED, "template: …", no retry) while another project's delivery in the same batch
// arrives within a second.
func TestTemplateBombsFailFast(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 200})
		bombs := []string{
			`{{range 1000000}}{{range 1000000}}{{end}}{{end}}`,
			`{{$x := "ab"}}{{range 64}}{{$x = print $x $x}}{{end}}{{$x}}`,
		}
		var bad []string
		for i, text := range bombs {
			w := e.webhook(t, rcv.URL+"/bomb", func(w *store.Webhook) {
				w.SystemName += string(rune('a' + i))
				w.BodyTemplate = text // stored directly: the API refuses it at save time
			})
			bad = append(bad, e.publish(t, `{}`, w.ID)...)
		}
		other := &store.Project{Name: "other", CreateTime: e.clk.Now()}
		require.NoError(t, st.CreateProject(e.ctx, other))
		require.NoError(t, st.CreateEventType(e.ctx, &store.EventType{ProjectID: other.ID, Name: "user.created", CreateTime: e.clk.Now()}))
		good := &store.Webhook{ProjectID: other.ID, Name: "healthy", SystemName: "healthy", Method: "POST", URL: rcv.URL + "/good",
			Enabled: true, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential},
			Timeout: 15 * time.Second, CreateTime: e.clk.Now()}
		require.NoError(t, st.CreateWebhook(e.ctx, good))
		res, err := st.PublishEvents(e.ctx, store.PublishEventsParams{ProjectID: other.ID, Events: []store.PublishInput{{Event: store.Event{EventType: "user.created", Payload: []byte(`{}`)},
			WebhookIDs: []string{good.ID}}}, Now: e.clk.Now(), IdempotencyWindow: time.Hour})
		require.NoError(t, err)

		start := time.Now()
		e.runOnce(t, 3)
		assert.Less(t, time.Since(start), time.Second, "the batch with both bombs and the healthy delivery took too long")
		got := rcv.requests()
		require.Len(t, got, 1, "only the healthy webhook is called")
		assert.Equal(t, "/good", got[0].path)
		d, err := st.GetDelivery(e.ctx, other.ID, res[0].DeliveryIDs[0])
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, d.Status)
		for _, id := range bad {
			d := e.delivery(t, id)
			assert.Equal(t, store.StatusFailed, d.Status, "a render over its bounds is not retried")
			assert.True(t, strings.HasPrefix(d.Reason, "template: "), d.Reason)
		}
	})
}

// A MEMBER can never redirect private integration headers: a webhook of the integration with its own url
// elsewhere does not send them (deliveries and test sends alike); the integration's origin still gets them.
func TestPrivateHeadersOnlyToTheIntegrationOrigin(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		owner := newReceiver(t, reply{status: 200})
		member := newReceiver(t, reply{status: 200})
		in := &store.Integration{ProjectID: e.project.ID, Name: "crm", BaseURL: owner.URL + "/api/", CreateTime: e.clk.Now(),
			Headers: []store.Header{{Name: "Authorization", Value: "Bearer TOPSECRET-123", Private: true}, {Name: "X-Tenant", Value: "acme"}}}
		require.NoError(t, st.CreateIntegration(e.ctx, in))
		redirected := e.webhook(t, member.URL+"/steal", func(w *store.Webhook) { w.IntegrationID = in.ID; w.SystemName += "-r" })
		own := e.webhook(t, "", func(w *store.Webhook) { w.IntegrationID = in.ID; w.Path = "orders"; w.SystemName += "-o" })
		e.publish(t, `{}`, redirected.ID, own.ID)
		e.runOnce(t, 2)
		_, err := e.snd.SendTest(context.Background(), redirected, "user.created", []byte(`{}`))
		require.NoError(t, err)

		got := member.requests()
		require.Len(t, got, 2)
		for _, r := range got {
			assert.Empty(t, r.header.Get("Authorization"), "the private header reached another origin")
			assert.Equal(t, "acme", r.header.Get("X-Tenant"), "public headers are still inherited")
		}
		require.Len(t, owner.requests(), 1)
		assert.Equal(t, "Bearer TOPSECRET-123", owner.requests()[0].header.Get("Authorization"))
	})
}

// Issue 21 item 2: a webhook's own private headers go only to the origin they were saved for (PrivateOrigin),
// deliveries and test sends alike: not to a webhook whose url moved since (e.g. a copy), nor to a path webhook
// whose integration's base_url moved; public headers still go. A webhook still calling its origin sends them.
func TestWebhookPrivateHeadersOnlyToTheirOrigin(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		owner := newReceiver(t, reply{status: 200})
		member := newReceiver(t, reply{status: 200})
		ownerOrigin, ok := netguard.Origin(owner.URL)
		require.True(t, ok)
		headers := []store.Header{{Name: "X-Partner-Token", Value: "PARTNER-SECRET", Private: true}, {Name: "X-Plain", Value: "p"}}
		moved := e.webhook(t, member.URL+"/steal", func(w *store.Webhook) {
			w.Headers, w.PrivateOrigin, w.SystemName = headers, ownerOrigin, w.SystemName+"-m"
		})
		in := &store.Integration{ProjectID: e.project.ID, Name: "plain", BaseURL: owner.URL + "/api/", CreateTime: e.clk.Now()}
		require.NoError(t, st.CreateIntegration(e.ctx, in))
		viaBase := e.webhook(t, "", func(w *store.Webhook) {
			w.IntegrationID, w.Path, w.Headers, w.SystemName = in.ID, "orders", headers, w.SystemName+"-b"
		})
		require.Equal(t, ownerOrigin, viaBase.PrivateOrigin)
		in.BaseURL = member.URL + "/api/" // moved under the webhook
		require.NoError(t, st.UpdateIntegration(e.ctx, in))
		own := e.webhook(t, owner.URL+"/hook", func(w *store.Webhook) { w.Headers, w.SystemName = headers, w.SystemName+"-o" })

		e.publish(t, `{}`, moved.ID, viaBase.ID, own.ID)
		e.runOnce(t, 3)
		for _, w := range []*store.Webhook{moved, viaBase} {
			w, err := st.GetWebhook(e.ctx, e.project.ID, w.ID)
			require.NoError(t, err)
			_, err = e.snd.SendTest(context.Background(), w, "user.created", []byte(`{}`))
			require.NoError(t, err)
		}

		got := member.requests()
		require.Len(t, got, 4)
		for _, r := range got {
			assert.Empty(t, r.header.Get("X-Partner-Token"), "a private value reached another origin")
			assert.Equal(t, "p", r.header.Get("X-Plain"), "public headers are still sent")
		}
		require.Len(t, owner.requests(), 1)
		assert.Equal(t, "PARTNER-SECRET", owner.requests()[0].header.Get("X-Partner-Token"))
	})
}

// URL template output is escaped for its position and cannot change the host.
func TestURLTemplatesCannotPickTheHost(t *testing.T) {
	backends(t, func(t *testing.T, st *storetest.DB) {
		e := setup(t, st, dev)
		rcv := newReceiver(t, reply{status: 200})
		escaped := e.webhook(t, rcv.URL+"/x/{{.Data.id}}?q={{.Data.q}}", func(w *store.Webhook) { w.SystemName += "-e" })
		hostile := e.webhook(t, "http://{{.Data.u}}@"+strings.TrimPrefix(rcv.URL, "http://")+"/x", func(w *store.Webhook) { w.SystemName += "-h" })
		ids := e.publish(t, `{"id":"a/../../b?c","q":"1&admin=true","u":"a@evil.invalid/?"}`, escaped.ID, hostile.ID)
		e.runOnce(t, 2)
		got := rcv.requests()
		require.Len(t, got, 1)
		assert.Equal(t, "/x/a/../../b?c", got[0].path, "decoded path: one segment")
		a := e.attempts(t, ids[0])
		require.Len(t, a, 1)
		assert.Equal(t, rcv.URL+"/x/a%2F..%2F..%2Fb%3Fc?q=1%26admin%3Dtrue", a[0].RequestURL)
		assert.Equal(t, "q=1%26admin%3Dtrue", got[0].query)
		d := e.delivery(t, ids[1])
		assert.Equal(t, store.StatusFailed, d.Status)
		assert.True(t, strings.HasPrefix(d.Reason, "template: url"), d.Reason)
	})
}
