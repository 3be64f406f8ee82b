package health

import "strings"

// Operational event types ("webhooks about webhooks"): hookd publishes them in a webhook's project when the
// webhook's health changes or a delivery fails for good. They exist in every project, cannot be changed or
// deleted, and are delivered only to subscriptions that name them (not to "*"). Deliveries of operational events
// never cause further operational events.
const (
	// OperationalPrefix starts the names of the operational event types (reserved).
	OperationalPrefix = "hookd."
	// EventWebhookFailing is published at 50, 70 and 90 % of a webhook's failure threshold (WebhookFailing).
	EventWebhookFailing = "hookd.webhook.failing"
	// EventWebhookDisabled is published when a webhook is disabled: threshold, 410 or a person (WebhookDisabled).
	EventWebhookDisabled = "hookd.webhook.disabled"
	// EventWebhookEnabled is published when a disabled webhook is enabled again (WebhookEnabled).
	EventWebhookEnabled = "hookd.webhook.enabled"
	// EventDeliveryFailed is published when a delivery fails for good (DeliveryFailed).
	EventDeliveryFailed = "hookd.delivery.failed"
	// EventSubjectErased is published when EventService.EraseSubject erased a subject's data (SubjectErased).
	EventSubjectErased = "hookd.subject.erased"
)

// IsOperational reports whether an event type name is reserved for operational events.
func IsOperational(name string) bool { return strings.HasPrefix(name, OperationalPrefix) }

// Payload is the payload of an operational event; it marshals to JSON valid against its event type's schema.
type Payload interface {
	// EventTypeName is the name of the payload's operational event type.
	EventTypeName() string
}

// The payloads' fields are in the order of their JSON names, so that they marshal to the bytes hookd wrote when
// payloads were maps.

// WebhookFailing is the payload of hookd.webhook.failing.
type WebhookFailing struct {
	ConsecutiveFailures int    `json:"consecutiveFailures"`
	FailureThreshold    int    `json:"failureThreshold"`
	LastStatusCode      int    `json:"lastStatusCode"`
	Percent             int    `json:"percent"`
	Reason              string `json:"reason"`
	WebhookID           string `json:"webhookId"`
}

// WebhookDisabled is the payload of hookd.webhook.disabled.
type WebhookDisabled struct {
	Reason    DisableReason `json:"reason"`
	WebhookID string        `json:"webhookId"`
}

// WebhookEnabled is the payload of hookd.webhook.enabled.
type WebhookEnabled struct {
	// Replayed is how many missed deliveries enabling the webhook re-queued.
	Replayed  int    `json:"replayed"`
	WebhookID string `json:"webhookId"`
}

// DeliveryFailed is the payload of hookd.delivery.failed.
type DeliveryFailed struct {
	DeliveryID     string `json:"deliveryId"`
	EventID        string `json:"eventId"`
	EventType      string `json:"eventType"`
	LastStatusCode int    `json:"lastStatusCode"`
	Reason         string `json:"reason"`
	Subject        string `json:"subject"`
	WebhookID      string `json:"webhookId"`
}

// SubjectErased is the payload of hookd.subject.erased: what EventService.EraseSubject deleted, and a SHA-256 of
// the subject (lowercase hex), never the subject itself.
type SubjectErased struct {
	Attempts            int    `json:"attempts"`
	CancelledDeliveries int    `json:"cancelledDeliveries"`
	Deliveries          int    `json:"deliveries"`
	Events              int    `json:"events"`
	Executions          int    `json:"executions"`
	IdempotencyKeys     int    `json:"idempotencyKeys"`
	OperationalEvents   int    `json:"operationalEvents"`
	SubjectSHA256       string `json:"subjectSha256"`
}

// EventTypeName implements Payload.
func (SubjectErased) EventTypeName() string { return EventSubjectErased }

// EventTypeName implements Payload.
func (WebhookFailing) EventTypeName() string { return EventWebhookFailing }

// EventTypeName implements Payload.
func (WebhookDisabled) EventTypeName() string { return EventWebhookDisabled }

// EventTypeName implements Payload.
func (WebhookEnabled) EventTypeName() string { return EventWebhookEnabled }

// EventTypeName implements Payload.
func (DeliveryFailed) EventTypeName() string { return EventDeliveryFailed }

// EventType is an operational event type as every project holds it.
type EventType struct {
	Name          string
	Description   string
	Schema        []byte
	SamplePayload []byte
}

// EventTypes are the operational event types with their schemas and sample payloads.
func EventTypes() []EventType {
	return []EventType{
		{
			Name:        EventWebhookFailing,
			Description: "A webhook's consecutive failed deliveries reached 50, 70 or 90 % of its failure threshold.",
			Schema: []byte(`{"type":"object","required":["webhookId","percent","consecutiveFailures"],"properties":{` +
				`"webhookId":{"type":"string"},"percent":{"type":"integer","enum":[50,70,90]},` +
				`"consecutiveFailures":{"type":"integer"},"failureThreshold":{"type":"integer"},` +
				`"lastStatusCode":{"type":"integer"},"reason":{"type":"string"}}}`),
			SamplePayload: []byte(`{"webhookId":"wh_01jd0000000000000000000000","percent":50,"consecutiveFailures":5,` +
				`"failureThreshold":10,"lastStatusCode":503,"reason":"HTTP 503 Service Unavailable"}`),
		},
		{
			Name:        EventWebhookDisabled,
			Description: "A webhook was disabled: its failure threshold was reached, its receiver answered 410 Gone, or a person disabled it.",
			Schema: []byte(`{"type":"object","required":["webhookId","reason"],"properties":{` +
				`"webhookId":{"type":"string"},"reason":{"type":"string"}}}`),
			SamplePayload: []byte(`{"webhookId":"wh_01jd0000000000000000000000","reason":"failure threshold reached: 10 consecutive failed deliveries"}`),
		},
		{
			Name:          EventWebhookEnabled,
			Description:   "A disabled webhook was enabled again.",
			Schema:        []byte(`{"type":"object","required":["webhookId"],"properties":{"webhookId":{"type":"string"},"replayed":{"type":"integer"}}}`),
			SamplePayload: []byte(`{"webhookId":"wh_01jd0000000000000000000000","replayed":12}`),
		},
		{
			Name:        EventDeliveryFailed,
			Description: "A delivery failed for good (permanent error, retries exhausted, or reported failed).",
			Schema: []byte(`{"type":"object","required":["deliveryId","eventId","webhookId","eventType"],"properties":{` +
				`"deliveryId":{"type":"string"},"eventId":{"type":"string"},"webhookId":{"type":"string"},` +
				`"eventType":{"type":"string"},"subject":{"type":"string"},"lastStatusCode":{"type":"integer"},` +
				`"reason":{"type":"string"}}}`),
			SamplePayload: []byte(`{"deliveryId":"dlv_01jd0000000000000000000000","eventId":"evt_01jd0000000000000000000000",` +
				`"webhookId":"wh_01jd0000000000000000000000","eventType":"order.paid","subject":"cus_42","lastStatusCode":500,` +
				`"reason":"HTTP 500 Internal Server Error"}`),
		},
		subjectErasedType,
	}
}

// subjectErasedType is hookd.subject.erased: it records an erase with a SHA-256 of the subject (lowercase hex),
// never the subject, and what was deleted. Its own subject is empty.
var subjectErasedType = EventType{
	Name:        EventSubjectErased,
	Description: "Every event, delivery, attempt and execution about a subject was erased (EventService.EraseSubject); the payload holds a SHA-256 of the subject, never the subject.",
	Schema: []byte(`{"type":"object","required":["subjectSha256","events","deliveries","attempts","executions"],"properties":{` +
		`"subjectSha256":{"type":"string","pattern":"^[0-9a-f]{64}$"},"events":{"type":"integer"},` +
		`"deliveries":{"type":"integer"},"attempts":{"type":"integer"},"executions":{"type":"integer"},` +
		`"cancelledDeliveries":{"type":"integer"},"idempotencyKeys":{"type":"integer"},` +
		`"operationalEvents":{"type":"integer"}}}`),
	SamplePayload: []byte(`{"subjectSha256":"6b3a55e0261b0304143f805a24924d0c1c44524821305f31d9277843b8a10f4e",` +
		`"events":12,"deliveries":30,"attempts":41,"executions":2,"cancelledDeliveries":1,"idempotencyKeys":3,` +
		`"operationalEvents":0}`),
}
