package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/store"
)

var idempotentPolicy = &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_IDEMPOTENT}

// TestIdempotentRetryPolicy checks the save-time rule of RETRY_POLICY_KIND_IDEMPOTENT. The product document 001
// (001_cece2d8210d42b3c.txt): "If you add the ${WebhookRequest.TransactionalId} parameter to your request, the
// webhook will be called back three times within six minutes if the response contains errors 5xx and 429" and
// "You can enter the idempotency key in a URL, a header, or a request body." A webhook with the policy must use
// {{.TransactionalId}} in one of them; otherwise saving it is refused with a message that says why.
func TestIdempotentRetryPolicy(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		in := createIntegration(t, e.admin, "crm")
		keyed, err := e.admin.integrations.CreateIntegration(ctx, creq(&hookdv1.CreateIntegrationRequest{
			Name: "keyed", BaseUrl: "https://api.example.com/",
			Headers: []*hookdv1.Header{{Name: "Idempotency-Key", Value: "{{.TransactionalId}}"}, {Name: "X-Team", Value: "core"}},
		}))
		require.NoError(t, err)
		keyedID := keyed.Msg.GetIntegration().GetId()
		hdr := func(name, value string) []*hookdv1.Header { return []*hookdv1.Header{{Name: name, Value: value}} }

		for _, c := range []struct {
			name string
			req  *hookdv1.CreateWebhookRequest
			ok   bool
		}{
			{"in the url", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o?transactionId={{.TransactionalId}}"}, true},
			{"in the path", &hookdv1.CreateWebhookRequest{IntegrationId: in.GetId(), Path: "orders/{{.TransactionalId}}"}, true},
			{"in a header", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", Headers: hdr("X-Request-Id", "{{.TransactionalId}}")}, true},
			{"in the body", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", BodyTemplate: `{"id":"{{.TransactionalId}}"}`}, true},
			{"in a used integration header", &hookdv1.CreateWebhookRequest{IntegrationId: keyedID, Path: "o"}, true},
			// The product document's own spelling counts the same, wherever {{.TransactionalId}} does.
			{"maestra in the url", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o?transactionId=${WebhookRequest.TransactionalId}"}, true},
			{"maestra in the path", &hookdv1.CreateWebhookRequest{IntegrationId: in.GetId(), Path: "orders/${WebhookRequest.TransactionalId}"}, true},
			{"maestra in a header", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", Headers: hdr("X-Request-Id", "${WebhookRequest.TransactionalId}")}, true},
			{"maestra in the body", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", BodyTemplate: `{"id":"${WebhookRequest.TransactionalId}"}`}, true},

			{"nowhere", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", BodyTemplate: `{"id":"{{.EventID}}"}`}, false},
			{"in a comment", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", BodyTemplate: `{{/* {{.TransactionalId}} */}}{}`}, false},
			{"in a string literal", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", BodyTemplate: `{{print "{{.TransactionalId}}" | len}}`}, false},
			{"only as a condition", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", Headers: hdr("X-Has", "{{if .TransactionalId}}yes{{end}}")}, false},
			{"integration header toggled off", &hookdv1.CreateWebhookRequest{IntegrationId: keyedID, Path: "o",
				IntegrationHeaders: []*hookdv1.IntegrationHeader{{Name: "idempotency-key", Use: false}}}, false},
			{"integration header replaced", &hookdv1.CreateWebhookRequest{IntegrationId: keyedID, Path: "o", Headers: hdr("Idempotency-Key", "fixed")}, false},
			{"maestra in a string literal", &hookdv1.CreateWebhookRequest{Url: "https://hooks.example.com/o", BodyTemplate: `{{print "${WebhookRequest.TransactionalId}"}}`}, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				c.req.Name, c.req.RetryPolicy = "idempotent "+c.name, idempotentPolicy
				res, err := e.member.webhooks.CreateWebhook(ctx, creq(c.req))
				if !c.ok {
					requireCode(t, err, connect.CodeInvalidArgument, "retry_policy.kind")
					requireCode(t, err, connect.CodeInvalidArgument, "{{.TransactionalId}}")
					requireCode(t, err, connect.CodeInvalidArgument, "${WebhookRequest.TransactionalId}")
					return
				}
				require.NoError(t, err)
				require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_IDEMPOTENT, res.Msg.GetWebhook().GetRetryPolicy().GetKind())
				stored, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, res.Msg.GetWebhook().GetId())
				require.NoError(t, err)
				require.Equal(t, store.RetryPolicy{Kind: store.RetryIdempotent}, stored.RetryPolicy)
			})
		}

		// The schedule is fixed: no interval or max_retries.
		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{
			Name: "x", Url: "https://hooks.example.com/{{.TransactionalId}}",
			RetryPolicy: &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_IDEMPOTENT, MaxRetries: 5},
		}))
		requireCode(t, err, connect.CodeInvalidArgument, "retry_policy")

		// Updates are checked the same way: switching a keyless webhook, or dropping the key of an IDEMPOTENT one.
		plain := createWebhook(t, e.member, "plain")
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: plain.GetId(), RetryPolicy: idempotentPolicy}))
		requireCode(t, err, connect.CodeInvalidArgument, "neither the URL, the headers nor the body_template")
		up, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: plain.GetId(), RetryPolicy: idempotentPolicy,
			BodyTemplate: proto.String(`{"key":"{{.TransactionalId}}"}`)}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_IDEMPOTENT, up.Msg.GetWebhook().GetRetryPolicy().GetKind())
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: plain.GetId(), BodyTemplate: proto.String(`{}`)}))
		requireCode(t, err, connect.CodeInvalidArgument, "retry_policy.kind")
	})
}

// TestSuccessStatusCodes checks Webhook.success_status_codes. The product document 004
// (004_059e8ff75d0b421d.txt): "If you reply with any response code that is not a HTTP 200, including 3xx/4xx/5xx
// codes, we will mark the webhook as rejected." A webhook accepts exactly [200]; empty keeps any 2xx.
func TestSuccessStatusCodes(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{
			Name: "only 200", Url: "https://hooks.example.com/o", SuccessStatusCodes: []int32{200},
		}))
		require.NoError(t, err)
		w := res.Msg.GetWebhook()
		require.Equal(t, []int32{200}, w.GetSuccessStatusCodes())
		stored, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, w.GetId())
		require.NoError(t, err)
		require.Equal(t, []int{200}, stored.SuccessStatusCodes)
		require.Empty(t, createWebhook(t, e.member, "any").GetSuccessStatusCodes(), "empty = any 2xx")

		up, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(),
			SuccessStatusCodes: &hookdv1.StatusCodeList{Values: []int32{200, 204}}}))
		require.NoError(t, err)
		require.Equal(t, []int32{200, 204}, up.Msg.GetWebhook().GetSuccessStatusCodes())
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), Name: proto.String("renamed")}))
		require.NoError(t, err)
		require.Equal(t, []int32{200, 204}, up.Msg.GetWebhook().GetSuccessStatusCodes(), "absent = unchanged")
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(), SuccessStatusCodes: &hookdv1.StatusCodeList{}}))
		require.NoError(t, err)
		require.Empty(t, up.Msg.GetWebhook().GetSuccessStatusCodes(), "an empty list = any 2xx again")

		copied, err := e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: res.Msg.GetWebhook().GetId(), Name: "copy"}))
		require.NoError(t, err)
		require.Empty(t, copied.Msg.GetWebhook().GetSuccessStatusCodes())

		for _, c := range []struct {
			name  string
			req   *hookdv1.CreateWebhookRequest
			field string
		}{
			{"3xx", &hookdv1.CreateWebhookRequest{SuccessStatusCodes: []int32{200, 302}}, "success_status_codes[1]"},
			{"out of range", &hookdv1.CreateWebhookRequest{SuccessStatusCodes: []int32{600}}, "success_status_codes[0]"},
			{"twice", &hookdv1.CreateWebhookRequest{SuccessStatusCodes: []int32{200, 200}}, "success_status_codes[1]"},
			{"with async_status", &hookdv1.CreateWebhookRequest{SuccessStatusCodes: []int32{200}, AsyncStatus: true}, "success_status_codes"},
		} {
			c.req.Name, c.req.Url = c.name, "https://hooks.example.com/o"
			_, err := e.member.webhooks.CreateWebhook(ctx, creq(c.req))
			requireCode(t, err, connect.CodeInvalidArgument, c.field)
		}
	})
}

// TestAsyncStatusRetryDefault checks issue 12 item 5. The product document 000 (000_f048f2c259794e8d.txt) maps
// "200 Done, 202 Wait, > 202 Failed" and makes retries an opt-in: "If you would like the request to be
// automatically retried, then make sure to choose the "Automatically Retry Failures" option and set a delay period
// and max attempt (10 maximum)." So an async_status webhook without a retry policy gets RETRY_POLICY_KIND_NONE.
func TestAsyncStatusRetryDefault(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		none := hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_NONE
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "async", Url: "https://hooks.example.com/a", AsyncStatus: true}))
		require.NoError(t, err)
		require.Equal(t, none, res.Msg.GetWebhook().GetRetryPolicy().GetKind())
		stored, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, res.Msg.GetWebhook().GetId())
		require.NoError(t, err)
		require.Equal(t, store.RetryPolicy{Kind: store.RetryNone}, stored.RetryPolicy)

		fixed := &hookdv1.RetryPolicy{Kind: hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, Interval: durationpb.New(30 * time.Second), MaxRetries: 10}
		res, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "async retried", Url: "https://hooks.example.com/b",
			AsyncStatus: true, RetryPolicy: fixed}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, res.Msg.GetWebhook().GetRetryPolicy().GetKind(), "a chosen policy is kept")

		// Turning async_status on by an update does the same, unless the update names a policy.
		plain := createWebhook(t, e.member, "plain")
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_EXPONENTIAL, plain.GetRetryPolicy().GetKind())
		up, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: plain.GetId(), AsyncStatus: proto.Bool(true)}))
		require.NoError(t, err)
		require.Equal(t, none, up.Msg.GetWebhook().GetRetryPolicy().GetKind())
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: plain.GetId(), RetryPolicy: fixed}))
		require.NoError(t, err)
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: plain.GetId(), AsyncStatus: proto.Bool(true)}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, up.Msg.GetWebhook().GetRetryPolicy().GetKind(), "already async: unchanged")
		other := createWebhook(t, e.member, "other")
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: other.GetId(), AsyncStatus: proto.Bool(true), RetryPolicy: fixed}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.RetryPolicyKind_RETRY_POLICY_KIND_FIXED, up.Msg.GetWebhook().GetRetryPolicy().GetKind())
	})
}

// TestEd25519Webhooks checks signing_algorithm ED25519 (Standard Webhooks v1a): hookd keeps the whsk_ private
// key in secret (ADMIN only), shows the whpk_ public key to every role, and a rotation or a change of algorithm
// keeps the previous key signing for 24 h with previous_public_key shown meanwhile.
func TestEd25519Webhooks(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		res, err := e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "signed", Url: "https://hooks.example.com/s",
			SigningAlgorithm: hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519}))
		require.NoError(t, err)
		w := res.Msg.GetWebhook()
		require.Equal(t, hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519, w.GetSigningAlgorithm())
		require.Equal(t, secret.Masked, w.GetSecret(), "MEMBER never reads the private key")
		require.Regexp(t, `^whpk_[A-Za-z0-9+/]{43}=$`, w.GetPublicKey(), "base64 of 32 bytes")
		pub := w.GetPublicKey()

		get := func(c clients) *hookdv1.Webhook {
			t.Helper()
			got, err := c.webhooks.GetWebhook(ctx, creq(&hookdv1.GetWebhookRequest{Id: w.GetId()}))
			require.NoError(t, err)
			return got.Msg.GetWebhook()
		}
		require.Equal(t, pub, get(e.viewer).GetPublicKey(), "every role sees the public key")
		require.Equal(t, secret.Masked, get(e.viewer).GetSecret())
		secret := get(e.admin).GetSecret()
		require.True(t, strings.HasPrefix(secret, "whsk_"), secret)
		derived, err := signature.PublicKey(secret)
		require.NoError(t, err)
		require.Equal(t, pub, derived, "the public key is the private key's")
		require.Equal(t, hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_HMAC_SHA256, createWebhook(t, e.member, "hmac").GetSigningAlgorithm())
		require.Empty(t, createWebhook(t, e.member, "hmac2").GetPublicKey())

		// Rotation: a new key pair; the old one signs (and verifies) for 24 h.
		rot, err := e.member.webhooks.RotateWebhookSecret(ctx, creq(&hookdv1.RotateWebhookSecretRequest{Id: w.GetId()}))
		require.NoError(t, err)
		rw := rot.Msg.GetWebhook()
		require.NotEqual(t, pub, rw.GetPublicKey())
		require.True(t, strings.HasPrefix(rw.GetPublicKey(), "whpk_"))
		require.Equal(t, pub, rw.GetPreviousPublicKey())
		require.Equal(t, e.clock.Now().Add(SecretOverlap), rw.GetPreviousSecretExpireTime().AsTime())
		stored, err := e.st.GetWebhook(ctx, auth.DefaultProjectID, w.GetId())
		require.NoError(t, err)
		require.Equal(t, secret, stored.PreviousSecret)
		require.Equal(t, []string{stored.Secret, secret}, signature.Secrets(stored, e.clock.Now()))

		// Changing the algorithm makes a secret of the new kind; the old key keeps signing for 24 h.
		up, err := e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(),
			SigningAlgorithm: hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_HMAC_SHA256.Enum()}))
		require.NoError(t, err)
		uw := up.Msg.GetWebhook()
		require.Equal(t, hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_HMAC_SHA256, uw.GetSigningAlgorithm())
		require.Empty(t, uw.GetPublicKey())
		require.Equal(t, rw.GetPublicKey(), uw.GetPreviousPublicKey())
		require.True(t, strings.HasPrefix(get(e.admin).GetSecret(), "whsec_"))
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(),
			SigningAlgorithm: hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_HMAC_SHA256.Enum()}))
		require.NoError(t, err)
		require.Equal(t, rw.GetPublicKey(), up.Msg.GetWebhook().GetPreviousPublicKey(), "the same algorithm changes nothing")
		up, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: w.GetId(),
			SigningAlgorithm: hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519.Enum()}))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(up.Msg.GetWebhook().GetPublicKey(), "whpk_"))
		require.Empty(t, up.Msg.GetWebhook().GetPreviousPublicKey(), "the previous secret is an HMAC one")

		e.clock.Advance(SecretOverlap)
		require.Empty(t, get(e.viewer).GetPreviousPublicKey(), "the rotation is over")

		// A copy gets a key pair of its own.
		cp, err := e.member.webhooks.CopyWebhook(ctx, creq(&hookdv1.CopyWebhookRequest{Id: w.GetId(), Name: "signed copy"}))
		require.NoError(t, err)
		require.Equal(t, hookdv1.SigningAlgorithm_SIGNING_ALGORITHM_ED25519, cp.Msg.GetWebhook().GetSigningAlgorithm())
		require.True(t, strings.HasPrefix(cp.Msg.GetWebhook().GetPublicKey(), "whpk_"))
		require.NotEqual(t, up.Msg.GetWebhook().GetPublicKey(), cp.Msg.GetWebhook().GetPublicKey())

		_, err = e.member.webhooks.CreateWebhook(ctx, creq(&hookdv1.CreateWebhookRequest{Name: "bad", Url: "https://hooks.example.com/b",
			SigningAlgorithm: hookdv1.SigningAlgorithm(9)}))
		requireCode(t, err, connect.CodeInvalidArgument, "signing_algorithm")
	})
}

// TestDeliveryTargetNames checks Delivery.webhook_name, integration_name and retries. The product document 002
// (002_e614064c24acc353.txt): "The queue list has the following columns: ID – identifier of the webhook request;
// Customer – link to the affected customer's profile; Trusted Site – the trusted site's name; Retries – the number
// of resends." The names are the targets' current names (read per page, not stored at publish time).
func TestDeliveryTargetNames(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		e := le.e
		in := createIntegration(t, e.admin, "Loyalty CRM")
		wA := createIntegrationWebhook(t, e.member, "points", in.GetId())
		wB := createWebhook(t, e.member, "Slack")
		createEventType(t, e.member, "order.paid", nil)
		ev := le.publish(t, &hookdv1.PublishEventRequest{EventType: "order.paid", Subject: "cus_42", WebhookIds: []string{wA.GetId(), wB.GetId()}})
		a, b := deliveryTo(t, le, ev, wA.GetId()), deliveryTo(t, le, ev, wB.GetId())
		// a: three attempts (two resends) and still retrying; b: one attempt, done.
		for i := range 3 {
			le.send(t, byID(map[string]verdict{a: {status: store.StatusRetrying, code: 500, next: time.Minute}, b: {status: store.StatusDone, code: 200}}))
			if i < 2 {
				e.clock.Advance(time.Minute)
			}
		}

		check := func(t *testing.T, d *hookdv1.Delivery) {
			t.Helper()
			switch d.GetId() {
			case a:
				require.Equal(t, "points", d.GetWebhookName())
				require.Equal(t, "Loyalty CRM", d.GetIntegrationName())
				require.Equal(t, int32(3), d.GetAttempts())
				require.Equal(t, int32(2), d.GetRetries(), "attempts after the first")
			case b:
				require.Equal(t, "Slack", d.GetWebhookName())
				require.Empty(t, d.GetIntegrationName())
				require.Equal(t, int32(0), d.GetRetries())
			default:
				t.Fatalf("unexpected delivery %s", d.GetId())
			}
			require.Equal(t, "cus_42", d.GetSubject(), "the Customer column")
		}
		log := listAll(t, le.viewer, nil, false)
		require.Len(t, log, 2)
		for _, d := range log {
			check(t, d)
		}
		queue := listAll(t, le.viewer, nil, true)
		require.Equal(t, []string{a}, deliveryIDs(queue), "the queue view")
		check(t, queue[0])
		got, err := le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: a}))
		require.NoError(t, err)
		check(t, got.Msg.GetDelivery())
		require.Len(t, got.Msg.GetDelivery().GetAttemptList(), 3)
		cancelled, err := le.member.deliveries.CancelDelivery(ctx, creq(&hookdv1.CancelDeliveryRequest{Id: a}))
		require.NoError(t, err)
		require.Equal(t, "points", cancelled.Msg.GetDelivery().GetWebhookName())
		resent, err := le.member.deliveries.RetryDelivery(ctx, creq(&hookdv1.RetryDeliveryRequest{Id: b}))
		require.NoError(t, err)
		require.Equal(t, "Slack", resent.Msg.GetDelivery().GetWebhookName())

		// Exports carry the same columns.
		data := exportStream(t, le.viewer, hookdv1.ExportFormat_EXPORT_FORMAT_CSV, nil)
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 3)
		rows := map[string]map[string]string{}
		for _, r := range recs[1:] {
			row := map[string]string{}
			for i, k := range recs[0] {
				row[k] = r[i]
			}
			rows[row["id"]] = row
		}
		require.Equal(t, "points", rows[a]["webhook_name"])
		require.Equal(t, "Loyalty CRM", rows[a]["integration_name"])
		require.Equal(t, "2", rows[a]["retries"])
		require.Equal(t, "Slack", rows[b]["webhook_name"])
		require.Empty(t, rows[b]["integration_name"])
		nd := ndjsonRows(t, exportStream(t, le.viewer, hookdv1.ExportFormat_EXPORT_FORMAT_NDJSON, &hookdv1.DeliveryFilter{WebhookId: wA.GetId()}))
		require.Len(t, nd, 1)
		require.Equal(t, "points", nd[0]["webhook_name"])
		require.Equal(t, float64(2), nd[0]["retries"])

		// Current names: a rename shows at once; a deleted webhook has no name.
		_, err = e.member.webhooks.UpdateWebhook(ctx, creq(&hookdv1.UpdateWebhookRequest{Id: wB.GetId(), Name: proto.String("Slack #orders")}))
		require.NoError(t, err)
		_, err = e.admin.integrations.UpdateIntegration(ctx, creq(&hookdv1.UpdateIntegrationRequest{Id: in.GetId(), Name: proto.String("CRM")}))
		require.NoError(t, err)
		got, err = le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: b}))
		require.NoError(t, err)
		require.Equal(t, "Slack #orders", got.Msg.GetDelivery().GetWebhookName())
		got, err = le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: a}))
		require.NoError(t, err)
		require.Equal(t, "CRM", got.Msg.GetDelivery().GetIntegrationName())
		_, err = e.member.webhooks.DeleteWebhook(ctx, creq(&hookdv1.DeleteWebhookRequest{Id: wA.GetId()}))
		require.NoError(t, err)
		got, err = le.viewer.deliveries.GetDelivery(ctx, creq(&hookdv1.GetDeliveryRequest{Id: a}))
		require.NoError(t, err)
		require.Empty(t, got.Msg.GetDelivery().GetWebhookName())
		require.Equal(t, "CRM", got.Msg.GetDelivery().GetIntegrationName())
	})
}
