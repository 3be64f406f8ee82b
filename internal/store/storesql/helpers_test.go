package storesql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// t0 is the fixed "now" of the tests (time is always passed in).
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// fixture is a project with one webhook subscribed to user.created.
type fixture struct {
	ctx     context.Context
	s       *storetest.DB
	project *store.Project
	webhook *store.Webhook
	seq     int
}

// next returns t0 plus one more millisecond on each call, so that records created in a test have ordered ids.
func (f *fixture) next() time.Time {
	f.seq++
	return t0.Add(time.Duration(f.seq) * time.Millisecond)
}

func setup(t *testing.T, s *storetest.DB) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), s: s}
	f.project = f.newProject(t, "acme")
	f.webhook = f.newWebhook(t, f.project.ID, "orders")
	f.newEventType(t, f.project.ID, "user.created")
	f.subscribe(t, f.project.ID, f.webhook.ID, "", "user.created")
	return f
}

func (f *fixture) newProject(t *testing.T, name string) *store.Project {
	t.Helper()
	p := &store.Project{Name: name, CreateTime: f.next()}
	require.NoError(t, f.s.CreateProject(f.ctx, p))
	return p
}

func (f *fixture) newWebhook(t *testing.T, projectID, systemName string) *store.Webhook {
	t.Helper()
	w := &store.Webhook{
		ProjectID: projectID, Name: "Webhook " + systemName, SystemName: systemName, Method: "POST",
		URL: "https://example.com/" + systemName, Enabled: true, Secret: "whsec_" + systemName,
		RetryPolicy: store.RetryPolicy{Kind: store.RetryExponential}, Timeout: 15 * time.Second, CreateTime: f.next(),
	}
	require.NoError(t, f.s.CreateWebhook(f.ctx, w))
	return w
}

func (f *fixture) newEventType(t *testing.T, projectID, name string) *store.EventType {
	t.Helper()
	et := &store.EventType{ProjectID: projectID, Name: name, CreateTime: f.next()}
	require.NoError(t, f.s.CreateEventType(f.ctx, et))
	return et
}

func (f *fixture) subscribe(t *testing.T, projectID, webhookID, subject string, types ...string) *store.Subscription {
	t.Helper()
	sub := &store.Subscription{ProjectID: projectID, WebhookID: webhookID, EventTypes: types, SubjectFilter: subject, Enabled: true, CreateTime: f.next()}
	require.NoError(t, f.s.CreateSubscription(f.ctx, sub))
	return sub
}

// publish publishes one event of type eventType and returns its result.
func (f *fixture) publish(t *testing.T, eventType, subject string) store.PublishResult {
	t.Helper()
	res, err := f.s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: []store.PublishInput{{Event: store.Event{
		EventType: eventType, Subject: subject, Payload: []byte(`{"n":1}`),
	}}}, Now: t0, IdempotencyWindow: 24 * time.Hour})
	require.NoError(t, err)
	require.Len(t, res, 1)
	return res[0]
}

// publishN publishes n user.created events in one batch and returns all their delivery ids.
func (f *fixture) publishN(t *testing.T, n int, now time.Time) []string {
	t.Helper()
	in := make([]store.PublishInput, n)
	for i := range in {
		in[i] = store.PublishInput{Event: store.Event{EventType: "user.created", Subject: fmt.Sprintf("user-%d", i), Payload: []byte(`{}`)}}
	}
	res, err := f.s.PublishEvents(f.ctx, store.PublishEventsParams{ProjectID: f.project.ID, Events: in, Now: now, IdempotencyWindow: 24 * time.Hour})
	require.NoError(t, err)
	var ids []string
	for _, r := range res {
		ids = append(ids, r.DeliveryIDs...)
	}
	return ids
}

// claim leases up to limit due deliveries for a minute, without per-webhook caps.
func (f *fixture) claim(t *testing.T, now time.Time, limit int) []store.ClaimedDelivery {
	t.Helper()
	res, err := f.s.ClaimDeliveries(f.ctx, now, store.ClaimRequest{Limit: limit, Lease: time.Minute, PerWebhook: 10000})
	require.NoError(t, err)
	return res.Deliveries
}

// claimOne claims exactly one due delivery.
func (f *fixture) claimOne(t *testing.T, now time.Time) store.ClaimedDelivery {
	t.Helper()
	got := f.claim(t, now, 10)
	require.Len(t, got, 1)
	return got[0]
}

func ids[T, K any](items []T, id func(T) K) []K {
	out := make([]K, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}
