package health_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hookd/hookd/internal/health"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   health.Streak
		want health.Decision
	}{
		{"below half", health.Streak{Failures: 4, Threshold: 10, Enabled: true, Grew: true}, health.Decision{}},
		{"half", health.Streak{Failures: 5, Threshold: 10, Enabled: true, Grew: true},
			health.Decision{Warn: []int{50}, Warned: 50}},
		{"half again: told once per streak", health.Streak{Failures: 6, Threshold: 10, Warned: 50, Enabled: true, Grew: true},
			health.Decision{Warned: 50}},
		{"seventy", health.Streak{Failures: 7, Threshold: 10, Warned: 50, Enabled: true, Grew: true},
			health.Decision{Warn: []int{70}, Warned: 70}},
		{"several shares in one batch", health.Streak{Failures: 9, Threshold: 10, Enabled: true, Grew: true},
			health.Decision{Warn: []int{50, 70, 90}, Warned: 90}},
		{"threshold: every share left, then the disable", health.Streak{Failures: 3, Threshold: 3, Enabled: true, Grew: true},
			health.Decision{Warn: []int{50, 70, 90}, Warned: 90, Disable: health.DisabledByThreshold(3)}},
		{"past the threshold", health.Streak{Failures: 12, Threshold: 10, Warned: 90, Enabled: true, Grew: true},
			health.Decision{Warned: 90, Disable: health.DisabledByThreshold(12)}},
		{"rounds down", health.Streak{Failures: 2, Threshold: 3, Enabled: true, Grew: true},
			health.Decision{Warn: []int{50}, Warned: 50}},
		{"no threshold", health.Streak{Failures: 100, Enabled: true, Grew: true}, health.Decision{}},
		{"disabled already", health.Streak{Failures: 10, Threshold: 10, Warned: 50, Grew: true}, health.Decision{Warned: 50}},
		{"the batch did not grow the streak", health.Streak{Failures: 10, Threshold: 10, Warned: 70, Enabled: true},
			health.Decision{Warned: 70}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, health.Evaluate(tc.in))
		})
	}
}

func TestCountsForStreak(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		eventType, reason string
		streak, attempts  bool
	}{
		{"order.paid", "HTTP 500 Internal Server Error", true, true},
		{"order.paid", "", true, true},
		{"order.paid", health.FailWebhookDisabled.String(), false, true},
		{"order.paid", health.FailWebhookDeleted.String(), true, true},
		{health.EventDeliveryFailed, "HTTP 500 Internal Server Error", false, false},
		{health.EventWebhookDisabled, "", false, false},
	} {
		assert.Equal(t, tc.streak, health.CountsForStreak(tc.eventType, tc.reason), "%s %q", tc.eventType, tc.reason)
		assert.Equal(t, tc.attempts, health.CountsForAttemptStreak(tc.eventType), tc.eventType)
	}
}
