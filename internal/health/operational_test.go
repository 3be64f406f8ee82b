package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/health"
	"github.com/hookd/hookd/internal/schema"
)

// payloads are, for each operational event type, its payload type's (nearly) zero value and a filled one.
var payloads = [][]health.Payload{
	{health.WebhookFailing{Percent: health.FailingPercents[0]}, health.WebhookFailing{ConsecutiveFailures: 7, FailureThreshold: 10, LastStatusCode: 503,
		Percent: 70, Reason: "HTTP 503 Service Unavailable", WebhookID: "wh_1"}},
	{health.WebhookDisabled{}, health.WebhookDisabled{Reason: health.DisabledByGone, WebhookID: "wh_1"}},
	{health.WebhookEnabled{}, health.WebhookEnabled{Replayed: 3, WebhookID: "wh_1"}},
	{health.DeliveryFailed{}, health.DeliveryFailed{DeliveryID: "dlv_1", EventID: "evt_1", EventType: "order.paid",
		LastStatusCode: 500, Reason: "HTTP 500 Internal Server Error", Subject: "cus_42", WebhookID: "wh_1"}},
	{health.SubjectErased{SubjectSHA256: "6b3a55e0261b0304143f805a24924d0c1c44524821305f31d9277843b8a10f4e"},
		health.SubjectErased{Attempts: 41, CancelledDeliveries: 1, Deliveries: 30, Events: 12, Executions: 2, IdempotencyKeys: 3,
			OperationalEvents: 1, SubjectSHA256: "6b3a55e0261b0304143f805a24924d0c1c44524821305f31d9277843b8a10f4e"}},
}

// zeroOf returns a new zero value of the payload type of an operational event type.
func zeroOf(t *testing.T, name string) any {
	t.Helper()
	for _, p := range payloads {
		if p[0].EventTypeName() == name {
			switch p[0].(type) {
			case health.WebhookFailing:
				return &health.WebhookFailing{}
			case health.WebhookDisabled:
				return &health.WebhookDisabled{}
			case health.WebhookEnabled:
				return &health.WebhookEnabled{}
			case health.DeliveryFailed:
				return &health.DeliveryFailed{}
			case health.SubjectErased:
				return &health.SubjectErased{}
			}
		}
	}
	t.Fatalf("no payload type for %s", name)
	return nil
}

// TestPayloadsMatchSchemas checks each operational event type's payload type against its JSON Schema: what hookd
// publishes validates, the type's fields are the schema's properties, and the sample validates and decodes into
// the type.
func TestPayloadsMatchSchemas(t *testing.T) {
	t.Parallel()
	types := health.EventTypes()
	require.Len(t, payloads, len(types), "a payload type for each operational event type")
	for _, et := range types {
		t.Run(et.Name, func(t *testing.T) {
			assert.True(t, health.IsOperational(et.Name))
			s, err := schema.Compile(et.Schema)
			require.NoError(t, err)
			require.NoError(t, s.CheckShape())
			var doc struct {
				Properties map[string]json.RawMessage `json:"properties"`
			}
			require.NoError(t, json.Unmarshal(et.Schema, &doc))
			properties := slices.Sorted(maps.Keys(doc.Properties))

			found := false
			for _, group := range payloads {
				if group[0].EventTypeName() != et.Name {
					continue
				}
				found = true
				for _, p := range group {
					raw, err := json.Marshal(p)
					require.NoError(t, err)
					assert.NoError(t, s.Validate(context.Background(), raw), "%s", raw)
					var fields map[string]any
					require.NoError(t, json.Unmarshal(raw, &fields))
					assert.Equal(t, properties, slices.Sorted(maps.Keys(fields)), "the payload's fields are the schema's properties")
					// Fields in the order of their JSON names: the bytes are those of the maps hookd published before.
					sorted, err := json.Marshal(fields)
					require.NoError(t, err)
					assert.Equal(t, string(sorted), string(raw))
				}
			}
			require.True(t, found, "a payload type for %s", et.Name)
			if et.Name == health.EventWebhookFailing {
				for _, p := range health.FailingPercents {
					raw, err := json.Marshal(health.WebhookFailing{Percent: p})
					require.NoError(t, err)
					assert.NoError(t, s.Validate(context.Background(), raw), "every share Evaluate warns about: %s", raw)
				}
			}

			assert.NoError(t, s.Validate(context.Background(), et.SamplePayload), "the sample validates")
			dec := json.NewDecoder(bytes.NewReader(et.SamplePayload))
			dec.DisallowUnknownFields()
			assert.NoError(t, dec.Decode(zeroOf(t, et.Name)), "the sample decodes into the payload type")
		})
	}
}

// TestSchemasRefuse checks that the schemas are enforced: a payload outside them does not validate.
func TestSchemasRefuse(t *testing.T) {
	t.Parallel()
	byName := map[string]*schema.Schema{}
	for _, et := range health.EventTypes() {
		s, err := schema.Compile(et.Schema)
		require.NoError(t, err)
		byName[et.Name] = s
	}
	for name, raw := range map[string]string{
		health.EventWebhookFailing:  `{"webhookId":"wh_1","percent":60,"consecutiveFailures":6}`,
		health.EventWebhookDisabled: `{"webhookId":"wh_1"}`,
		health.EventWebhookEnabled:  `{"webhookId":"wh_1","replayed":"3"}`,
		health.EventDeliveryFailed:  `{"deliveryId":"dlv_1","eventId":"evt_1","webhookId":"wh_1"}`,
	} {
		assert.Error(t, byName[name].Validate(context.Background(), []byte(raw)), "%s %s", name, raw)
	}
}
