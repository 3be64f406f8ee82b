package health

import "fmt"

// DisableReason is why a webhook was disabled, as webhooks.disabled_reason stores it and the API shows it. The
// texts of the reasons hookd writes never change (rows hold them); Cause reads them back.
type DisableReason string

// Reasons a webhook is disabled (DisabledByThreshold builds the third).
const (
	// DisabledByPerson is the reason of a webhook disabled through the API.
	DisabledByPerson DisableReason = "disabled by a person"
	// DisabledByGone is the reason of a webhook whose receiver answered 410 Gone.
	DisabledByGone DisableReason = "the receiver answered 410 Gone"
)

// thresholdFormat is the text of DisabledByThreshold.
const thresholdFormat = "failure threshold reached: %d consecutive failed deliveries"

// DisabledByThreshold is the reason of a webhook disabled by its failure threshold after failures consecutive
// FAILED deliveries.
func DisabledByThreshold(failures int) DisableReason {
	return DisableReason(fmt.Sprintf(thresholdFormat, failures))
}

// String returns the reason's stored text.
func (r DisableReason) String() string { return string(r) }

// DisableCause classifies a DisableReason.
type DisableCause int

// Causes of a disable.
const (
	// CauseOther is a reason hookd does not write (for example rows from before reasons were kept).
	CauseOther DisableCause = iota
	// CauseThreshold is DisabledByThreshold.
	CauseThreshold
	// CauseGone is DisabledByGone.
	CauseGone
	// CausePerson is DisabledByPerson.
	CausePerson
)

// Cause classifies the reason.
func (r DisableReason) Cause() DisableCause {
	switch r {
	case DisabledByPerson:
		return CausePerson
	case DisabledByGone:
		return CauseGone
	}
	var n int
	if _, err := fmt.Sscanf(string(r), thresholdFormat, &n); err == nil && DisabledByThreshold(n) == r {
		return CauseThreshold
	}
	return CauseOther
}

// FailReason is the reason hookd gives a delivery it finishes without attempting it, as deliveries.reason stores
// it. Code decides on these values (Missed), never on the text of other reasons (receivers' answers, errors).
type FailReason string

// Reasons hookd finishes a delivery without attempting it.
const (
	// FailWebhookDisabled fails a delivery whose webhook is disabled, at publish or when it is due: the webhook
	// missed it. Missed deliveries do not count for the webhook's health, and enabling it with replay re-queues
	// them.
	FailWebhookDisabled FailReason = "webhook disabled"
	// FailWebhookDeleted finishes a delivery whose webhook no longer exists (FAILED when the sender finds it gone,
	// CANCELLED when the webhook is deleted).
	FailWebhookDeleted FailReason = "webhook deleted"
)

// String returns the reason's stored text.
func (r FailReason) String() string { return string(r) }

// Missed reports whether a delivery's stored reason says its webhook was disabled when it was published or due.
func Missed(reason string) bool { return reason == string(FailWebhookDisabled) }
