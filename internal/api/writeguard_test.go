package api

import (
	"context"
	"fmt"
	"google.golang.org/protobuf/types/known/durationpb"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// Issue 21 item 2: a webhook's private header values are bound to the origin they were saved for. A MEMBER may
// not move that origin (url, path, integration_id, or the base_url of the integration a path webhook calls),
// on the webhook or on a copy of it; giving new values in the same update is allowed (they are the MEMBER's
// own); an ADMIN may move it and the values follow. (The sender's side: TestWebhookPrivateHeadersOnlyToTheirOrigin.)
func TestWebhookPrivateHeadersStayWithTheirOrigin(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := &hookdv1.Header{Name: "X-Partner-Token", Value: "PARTNER-SECRET", Private: true}
		res, err := e.admin.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "partner",
			Url: "https://partner.example.com/hook", Headers: []*hookdv1.Header{token, {Name: "X-Plain", Value: "p"}}}))
		require.NoError(t, err)
		w := res.Msg.GetWebhook()
		bound := func(id string) *store.Webhook {
			t.Helper()
			got, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, id)
			require.NoError(t, err)
			return got
		}
		require.Equal(t, "https://partner.example.com:443", bound(w.GetId()).PrivateOrigin)
		plain, err := e.member.integrations.CreateIntegration(ctx, creq(&hookdv1.CreateIntegrationRequest{Name: "plain",
			BaseUrl: "https://api.example.com/v1/"}))
		require.NoError(t, err)
		in := plain.Msg.GetIntegration()

		copied, err := e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: w.GetId(), Name: "copy"}))
		require.NoError(t, err, "a copy calls the same origin")
		cp := copied.Msg.GetWebhook()
		require.Equal(t, "https://partner.example.com:443", bound(cp.GetId()).PrivateOrigin)

		for _, c := range []struct {
			name  string
			r     *hookdv1.UpdateWebhookRequest
			field string
		}{
			{"url", &hookdv1.UpdateWebhookRequest{Id: w.GetId(), Url: proto.String("https://member.example.net/x")}, "url"},
			{"url of the copy", &hookdv1.UpdateWebhookRequest{Id: cp.GetId(), Url: proto.String("https://member.example.net/x")}, "url"},
			{"integration and path", &hookdv1.UpdateWebhookRequest{Id: w.GetId(), IntegrationId: proto.String(in.GetId()),
				Path: proto.String("x")}, "integration_id"},
			{"url with the masked list sent back", &hookdv1.UpdateWebhookRequest{Id: w.GetId(), Url: proto.String("https://member.example.net/x"),
				Headers: &hookdv1.HeaderList{Values: []*hookdv1.Header{{Name: "X-Partner-Token", Value: secret.Masked, Private: true}}}}, "url"},
		} {
			_, err := e.member.webhooks.UpdateWebhook(ctx, creq(c.r))
			requireCode(t, err, connect.CodePermissionDenied, c.field+": ")
			got := bound(c.r.GetId())
			require.Equal(t, "https://partner.example.com/hook", got.URL, c.name)
			require.Equal(t, "PARTNER-SECRET", got.Headers[0].Value, c.name)
		}
		// Same origin, another path: allowed.
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), Url: proto.String("https://partner.example.com/v2/hook")}))
		require.NoError(t, err)
		// New values are the MEMBER's own: they bind to the new origin.
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: cp.GetId(), Url: proto.String("https://member.example.net/x"),
			Headers: &hookdv1.HeaderList{Values: []*hookdv1.Header{{Name: "X-Partner-Token", Value: "mine", Private: true}}}}))
		require.NoError(t, err)
		require.Equal(t, "https://member.example.net:443", bound(cp.GetId()).PrivateOrigin)
		// An ADMIN moves it; the values follow.
		_, err = e.admin.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), IntegrationId: proto.String(in.GetId()), Path: proto.String("hook")}))
		require.NoError(t, err)
		require.Equal(t, "https://api.example.com:443", bound(w.GetId()).PrivateOrigin)

		// The webhook now calls the integration's base_url: moving that origin needs ADMIN too, and takes the
		// webhook's private values along.
		_, err = e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), BaseUrl: proto.String("https://member.example.net/")}))
		requireCode(t, err, connect.CodePermissionDenied, "base_url: ")
		_, err = e.member.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), BaseUrl: proto.String("https://api.example.com/v2/")}))
		require.NoError(t, err, "the same origin")
		_, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), BaseUrl: proto.String("https://new-api.example.com/")}))
		require.NoError(t, err)
		require.Equal(t, "https://new-api.example.com:443", bound(w.GetId()).PrivateOrigin)
		got, err := e.admin.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
		require.NoError(t, err)
		require.Equal(t, []string{"X-Partner-Token: PARTNER-SECRET", "X-Plain: p"}, headerPairs(got.Msg.GetWebhook().GetEffectiveHeaders()))
	})
}

// Issue 21 item 3: the mask never overwrites a stored value and a MEMBER may not make a private value public,
// for integration and webhook headers alike.
func TestMaskNeverOverwritesAPrivateValue(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		type kind struct {
			name   string
			create func(c clients) string
			update func(c clients, id string, hs ...*hookdv1.Header) error
			stored func(id string) []store.Header
		}
		private := &hookdv1.Header{Name: "Authorization", Value: "Bearer s3cret", Private: true}
		kinds := []kind{
			{"integration",
				func(c clients) string {
					res, err := c.integrations.CreateIntegration(ctx, creq(&hookdv1.CreateIntegrationRequest{Name: "crm",
						BaseUrl: "https://api.example.com/", Headers: []*hookdv1.Header{private}}))
					require.NoError(t, err)
					return res.Msg.GetIntegration().GetId()
				},
				func(c clients, id string, hs ...*hookdv1.Header) error {
					_, err := c.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: id, Headers: &hookdv1.HeaderList{Values: hs}}))
					return err
				},
				func(id string) []store.Header {
					in, err := e.st.GetIntegration(ctx, auth.DefaultProjectID, id)
					require.NoError(t, err)
					return in.Headers
				}},
			{"webhook",
				func(c clients) string {
					res, err := c.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "w",
						Url: "https://api.example.com/hook", Headers: []*hookdv1.Header{private}}))
					require.NoError(t, err)
					return res.Msg.GetWebhook().GetId()
				},
				func(c clients, id string, hs ...*hookdv1.Header) error {
					_, err := c.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: id, Headers: &hookdv1.HeaderList{Values: hs}}))
					return err
				},
				func(id string) []store.Header {
					w, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, id)
					require.NoError(t, err)
					return w.Headers
				}},
		}
		h := func(value string, private bool) *hookdv1.Header {
			return &hookdv1.Header{Name: "Authorization", Value: value, Private: private}
		}
		kept := []store.Header{{Name: "Authorization", Value: "Bearer s3cret", Private: true}}
		for _, k := range kinds {
			t.Run(k.name, func(t *testing.T) {
				id := k.create(e.admin)
				for _, c := range []struct {
					name   string
					client clients
					header *hookdv1.Header
					code   connect.Code // 0: accepted
					field  string
					want   []store.Header
				}{
					{"member unticks private on the mask", e.member, h(secret.Masked, false), connect.CodePermissionDenied, "headers[0].private: ", kept},
					{"member unticks private with a new value", e.member, h("Bearer mine", false), connect.CodePermissionDenied, "headers[0].private: ", kept},
					{"member sends the mask back", e.member, h(secret.Masked, true), 0, "", kept},
					{"member replaces the value", e.member, h("Bearer new", true), 0, "",
						[]store.Header{{Name: "Authorization", Value: "Bearer new", Private: true}}},
					{"admin unticks private on the mask: the stored value is kept", e.admin, h(secret.Masked, false), 0, "",
						[]store.Header{{Name: "Authorization", Value: "Bearer new"}}},
					{"the mask with no private value stored", e.admin, h(secret.Masked, false), connect.CodeInvalidArgument, "headers[0].value: ",
						[]store.Header{{Name: "Authorization", Value: "Bearer new"}}},
				} {
					err := k.update(c.client, id, c.header)
					if c.code == 0 {
						require.NoError(t, err, c.name)
					} else {
						requireCode(t, err, c.code, c.field)
					}
					require.Equal(t, c.want, k.stored(id), c.name)
				}
				for _, sh := range k.stored(id) {
					require.NotEqual(t, secret.Masked, sh.Value, "the mask is never stored")
				}
			})
		}
	})
}

// racingStore runs a scripted concurrent change right after a handler has read a record (by id), before it
// writes: the handler's write is then made from a stale read, deterministically.
type racingStore struct {
	store.Store
	mu    sync.Mutex
	after map[string]func() // record id → the change to run once, after its next read
}

func (r *racingStore) race(id string, change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.after[id] = change
}

func (r *racingStore) read(id string) {
	r.mu.Lock()
	change := r.after[id]
	delete(r.after, id)
	r.mu.Unlock()
	if change != nil {
		change()
	}
}

func (r *racingStore) GetWebhook(ctx context.Context, projectID, id string) (*store.Webhook, error) {
	w, err := r.Store.GetWebhook(ctx, projectID, id)
	r.read(id)
	return w, err
}

func (r *racingStore) GetProject(ctx context.Context, id string) (*store.Project, error) {
	p, err := r.Store.GetProject(ctx, id)
	r.read(id)
	return p, err
}

func (r *racingStore) GetIntegration(ctx context.Context, projectID, id string) (*store.Integration, error) {
	in, err := r.Store.GetIntegration(ctx, projectID, id)
	r.read(id)
	return in, err
}

func (r *racingStore) GetEventType(ctx context.Context, projectID, id string) (*store.EventType, error) {
	et, err := r.Store.GetEventType(ctx, projectID, id)
	r.read(id)
	return et, err
}

func (r *racingStore) GetSubscription(ctx context.Context, projectID, id string) (*store.Subscription, error) {
	sub, err := r.Store.GetSubscription(ctx, projectID, id)
	r.read(id)
	return sub, err
}

func (r *racingStore) GetTrigger(ctx context.Context, projectID, id string) (*store.Trigger, error) {
	tr, err := r.Store.GetTrigger(ctx, projectID, id)
	r.read(id)
	return tr, err
}

// Issue 21 item 9: an update racing another change of the same record (made between the update's read and its
// write) keeps both: UpdateWebhook racing RotateWebhookSecret keeps the new secret (and the other way round), and
// for every resource two updates of different fields both survive.
func TestUpdatesKeepConcurrentChanges(t *testing.T) {
	t.Parallel()
	storetest.ForEachStoreParallel(t, func(t *testing.T, st *storetest.DB) {
		rs := &racingStore{after: map[string]func(){}}
		e := setup(t, st, func(d *Deps) { rs.Store = d.Store; d.Store = rs })
		ctx := context.Background()
		a := e.admin
		wh := createWebhook(t, a, "orders")
		in := createIntegration(t, a, "crm")
		et, err := a.eventTypes.CreateEventType(ctx, creq(&hookdv1.CreateEventTypeRequest{Name: "order.paid"}))
		require.NoError(t, err)
		sub, err := a.subscriptions.CreateSubscription(ctx, creq(&hookdv1.CreateSubscriptionRequest{WebhookId: wh.GetId(), EventTypes: []string{"order.paid"}}))
		require.NoError(t, err)
		tr, err := a.triggers.CreateTrigger(ctx, creq(&hookdv1.CreateTriggerRequest{Name: "in", EventType: "order.paid"}))
		require.NoError(t, err)

		var rotated string // the secret RotateWebhookSecret set
		rotate := func() {
			res, err := a.webhooks.RotateWebhookSecret(ctx, creq(&hookdv1.RotateWebhookSecretRequest{Id: wh.GetId()}))
			require.NoError(t, err)
			rotated = res.Msg.GetWebhook().GetSecret()
		}
		storedWebhook := func() *store.Webhook {
			w, err := st.GetWebhook(ctx, auth.DefaultProjectID, wh.GetId())
			require.NoError(t, err)
			return w
		}
		for _, c := range []struct {
			name   string
			id     string
			racing func() // the concurrent change
			update func() // the update made from the stale read
			check  func()
		}{
			{"UpdateWebhook racing RotateWebhookSecret", wh.GetId(), rotate,
				func() {
					_, err := a.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: wh.GetId(), Description: proto.String("edited")}))
					require.NoError(t, err)
				},
				func() {
					w := storedWebhook()
					require.Equal(t, "edited", w.Description)
					require.Equal(t, rotated, w.Secret, "the rotated secret survives the update")
					require.Equal(t, wh.GetSecret(), w.PreviousSecret)
				}},
			{"RotateWebhookSecret racing UpdateWebhook", wh.GetId(),
				func() {
					_, err := a.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: wh.GetId(), Name: proto.String("renamed")}))
					require.NoError(t, err)
				},
				rotate,
				func() {
					w := storedWebhook()
					require.Equal(t, "renamed", w.Name, "the update survives the rotation")
					require.Equal(t, "edited", w.Description)
					require.Equal(t, rotated, w.Secret)
				}},
			{"integrations", in.GetId(),
				func() {
					_, err := a.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), RateLimitPerSecond: proto.Int32(7)}))
					require.NoError(t, err)
				},
				func() {
					_, err := a.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), Name: proto.String("crm v2")}))
					require.NoError(t, err)
				},
				func() {
					got, err := st.GetIntegration(ctx, auth.DefaultProjectID, in.GetId())
					require.NoError(t, err)
					require.Equal(t, "crm v2", got.Name)
					require.Equal(t, 7, got.RateLimitPerSecond)
				}},
			{"event types", et.Msg.GetEventType().GetId(),
				func() {
					_, err := a.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Id: et.Msg.GetEventType().GetId(),
						SamplePayload: mustStruct(t, map[string]any{"total": 1})}))
					require.NoError(t, err)
				},
				func() {
					_, err := a.eventTypes.UpdateEventType(ctx, creq(&hookdv1.UpdateEventTypeRequest{Id: et.Msg.GetEventType().GetId(),
						Description: proto.String("paid")}))
					require.NoError(t, err)
				},
				func() {
					got, err := st.GetEventType(ctx, auth.DefaultProjectID, et.Msg.GetEventType().GetId())
					require.NoError(t, err)
					require.Equal(t, "paid", got.Description)
					require.JSONEq(t, `{"total":1}`, string(got.SamplePayload))
				}},
			{"subscriptions", sub.Msg.GetSubscription().GetId(),
				func() {
					_, err := a.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: sub.Msg.GetSubscription().GetId(),
						Enabled: proto.Bool(false)}))
					require.NoError(t, err)
				},
				func() {
					_, err := a.subscriptions.UpdateSubscription(ctx, creq(&hookdv1.UpdateSubscriptionRequest{Id: sub.Msg.GetSubscription().GetId(),
						SubjectFilter: proto.String("cus_1")}))
					require.NoError(t, err)
				},
				func() {
					got, err := st.GetSubscription(ctx, auth.DefaultProjectID, sub.Msg.GetSubscription().GetId())
					require.NoError(t, err)
					require.Equal(t, "cus_1", got.SubjectFilter)
					require.False(t, got.Enabled)
				}},
			{"triggers", tr.Msg.GetTrigger().GetId(),
				func() {
					_, err := a.triggers.UpdateTrigger(ctx, creq(&hookdv1.UpdateTriggerRequest{Id: tr.Msg.GetTrigger().GetId(), RateLimitPerSecond: proto.Int32(5)}))
					require.NoError(t, err)
				},
				func() {
					_, err := a.triggers.UpdateTrigger(ctx, creq(&hookdv1.UpdateTriggerRequest{Id: tr.Msg.GetTrigger().GetId(), Name: proto.String("inbound")}))
					require.NoError(t, err)
				},
				func() {
					got, err := st.GetTrigger(ctx, auth.DefaultProjectID, tr.Msg.GetTrigger().GetId())
					require.NoError(t, err)
					require.Equal(t, "inbound", got.Name)
					require.Equal(t, 5, got.RateLimitPerSecond)
				}},
			{"projects", auth.DefaultProjectID,
				func() {
					_, err := e.root.projects.UpdateProject(ctx, creq(&hookdv1.UpdateProjectRequest{Id: auth.DefaultProjectID,
						Retention: durationpb.New(48 * time.Hour)}))
					require.NoError(t, err)
				},
				func() {
					_, err := e.root.projects.UpdateProject(ctx, creq(&hookdv1.UpdateProjectRequest{Id: auth.DefaultProjectID,
						PayloadRetention: durationpb.New(24 * time.Hour)}))
					require.NoError(t, err)
				},
				func() {
					got, err := st.GetProject(ctx, auth.DefaultProjectID)
					require.NoError(t, err)
					require.Equal(t, 48*time.Hour, got.Retention)
					require.Equal(t, 24*time.Hour, got.PayloadRetention)
				}},
		} {
			rs.race(c.id, c.racing)
			c.update()
			c.check()
		}

		// A record that changes again after every read: the update gives up after maxUpdateTries, with aborted.
		churned := 0
		var churn func()
		churn = func() {
			churned++
			w, err := st.GetWebhook(ctx, auth.DefaultProjectID, wh.GetId())
			require.NoError(t, err)
			w.Description = fmt.Sprint("churn ", churned)
			require.NoError(t, st.UpdateWebhook(ctx, w))
			rs.race(wh.GetId(), churn) // again after the next read
		}
		rs.race(wh.GetId(), churn)
		_, err = a.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: wh.GetId(), Name: proto.String("never")}))
		requireCode(t, err, connect.CodeAborted, "changed by another request")
		rs.race(wh.GetId(), nil)
		require.Equal(t, maxUpdateTries, churned)
		require.Equal(t, "renamed", storedWebhook().Name)
	})
}
