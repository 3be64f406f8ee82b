package store

import "time"

// The parameters of store methods that would otherwise take positional booleans or four or more arguments.

// RebindPrivateOriginParams says which webhooks RebindWebhookPrivateOrigin moves.
type RebindPrivateOriginParams struct {
	// ProjectID and IntegrationID name the integration whose base_url moved.
	ProjectID, IntegrationID string
	// From is the origin the private header values are bound to now; To is the origin they move to.
	From, To string
}

// SetWebhookEnabledParams says how SetWebhookEnabled changes a webhook.
type SetWebhookEnabledParams struct {
	// ProjectID and WebhookID name the webhook.
	ProjectID, WebhookID string
	// Enabled is the state to put it in.
	Enabled bool
	// Reason is why it is disabled (kept with a disabled webhook; unused when enabling).
	Reason string
	// Replay, when enabling, re-queues the deliveries that FAILED with reason "webhook disabled" while it was
	// disabled.
	Replay bool
	// Now is when the change happens.
	Now time.Time
}

// WebhookStatsParams says which statistics GetWebhookStats reads.
type WebhookStatsParams struct {
	// ProjectID and WebhookID name the webhook.
	ProjectID, WebhookID string
	// Window is how far back from Now the outcomes are counted.
	Window time.Duration
	// Now is the end of the window.
	Now time.Time
}

// PublishEventsParams are the events PublishEvents stores.
type PublishEventsParams struct {
	// ProjectID is the project they are published in.
	ProjectID string
	// Events are the events, each with its targets (validated by the caller).
	Events []PublishInput
	// Now is the publish time; the deliveries are due then.
	Now time.Time
	// IdempotencyWindow is how long an idempotency key used in the project returns its first result.
	IdempotencyWindow time.Duration
}

// ListDeliveriesParams says which deliveries ListDeliveries lists.
type ListDeliveriesParams struct {
	// ProjectID is the project listed.
	ProjectID string
	// Filter narrows the list.
	Filter DeliveryFilter
	// Queue lists the unfinished deliveries (QUEUED, RETRYING, WAITING) by next attempt time, the page cursor
	// then being "<unix nanos>/<id>"; false lists all of them newest first by id.
	Queue bool
	// Blocked (with Queue) lists only the deliveries that hold back later deliveries of their ordering key: the
	// heads of blocked keys, so that a key whose head has been failing for long is seen.
	Blocked bool
	// Page is the page asked for.
	Page Page
}

// UpdateActionStatusParams is an action-status callback's verdict on a delivery (UpdateActionStatus).
type UpdateActionStatusParams struct {
	// DeliveryID is the delivery the callback's token names.
	DeliveryID string
	// Resends is the resend count the token was handed out at: a token of an earlier send is stale.
	Resends int
	// Status is the verdict (DONE or FAILED).
	Status Status
	// Reason is the callback's reason, stored with the delivery.
	Reason string
	// Now is when the callback came.
	Now time.Time
}

// RememberTriggerSignatureParams is a signature a trigger accepted (RememberTriggerSignature).
type RememberTriggerSignatureParams struct {
	// TriggerID is the trigger that accepted it.
	TriggerID string
	// Digest identifies the signature.
	Digest string
	// Expire is when the signature's timestamp leaves the trigger's tolerance: until then a replay is refused.
	Expire time.Time
	// Now is when it was accepted.
	Now time.Time
}

// TakeRateParams asks a shared rate window for admissions (TakeRate).
type TakeRateParams struct {
	// Key names the window.
	Key string
	// Rate is how many admissions the key may have in any rolling second; zero or less is unlimited.
	Rate int
	// N is how many admissions are wanted at once (at least 1, at most Rate).
	N int
	// Now is the time of the take.
	Now time.Time
	// Hold is how long after Now the taker may spend them: they count in the window from Now + Hold.
	Hold time.Duration
}
