// Package health is the policy of webhook health: which delivery outcomes count towards a webhook's failure
// streak, the failing warnings and the disable a streak calls for (pure functions returning decisions), why a
// webhook is disabled and why hookd finishes a delivery without attempting it (typed reasons whose stored text
// never changes), and the operational events ("webhooks about webhooks") that tell a project about it: their
// names, payload types and JSON Schemas. The store persists the decisions; this package never touches a database.
package health

// FailingPercents are the shares of a webhook's failure threshold at which hookd.webhook.failing is published,
// once each per streak.
var FailingPercents = []int{50, 70, 90}

// Streak is a webhook's delivery health after a batch of outcomes was counted.
type Streak struct {
	// Failures is the webhook's consecutive FAILED deliveries since the last DONE one.
	Failures int
	// Threshold is the webhook's failure threshold (0: never disabled by failures).
	Threshold int
	// Warned is the highest share warned about in this streak already (0, 50, 70 or 90).
	Warned int
	// Enabled reports whether the webhook is enabled.
	Enabled bool
	// Grew reports whether the batch ended with failures that are now part of the streak.
	Grew bool
}

// Decision is what a webhook's streak calls for.
type Decision struct {
	// Warn lists, in order, the shares of the threshold to publish hookd.webhook.failing for.
	Warn []int
	// Warned is the highest share warned about after Warn (to be kept when it differs from Streak.Warned).
	Warned int
	// Disable, when not empty, is the reason to disable the webhook with.
	Disable DisableReason
}

// Evaluate decides the warnings and the disable a webhook's streak calls for: each share of the threshold crossed
// is warned about once per streak — also when one batch goes past several or reaches the threshold (the warnings
// then come just before the disable) — and an enabled webhook whose streak reaches its threshold is disabled.
// Nothing is decided for a webhook without a threshold, a disabled one, or a batch that did not grow the streak.
func Evaluate(s Streak) Decision {
	d := Decision{Warned: s.Warned}
	if s.Threshold <= 0 || !s.Enabled || !s.Grew {
		return d
	}
	percent := s.Failures * 100 / s.Threshold
	for _, p := range FailingPercents {
		if p > d.Warned && p <= percent {
			d.Warned = p
			d.Warn = append(d.Warn, p)
		}
	}
	if s.Failures >= s.Threshold {
		d.Disable = DisabledByThreshold(s.Failures)
	}
	return d
}

// CountsForStreak reports whether a delivery's final outcome (DONE or FAILED) moves its webhook's failure streak:
// not the deliveries of operational events (their failures never cause more operational events) and not the
// deliveries a webhook missed while it was disabled.
func CountsForStreak(eventType, reason string) bool {
	return !IsOperational(eventType) && !Missed(reason)
}

// CountsForAttemptStreak reports whether an attempt of a delivery of eventType moves its webhook's attempt streak
// (not those of operational events).
func CountsForAttemptStreak(eventType string) bool { return !IsOperational(eventType) }
