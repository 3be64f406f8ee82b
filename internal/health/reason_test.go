package health_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hookd/hookd/internal/health"
)

// TestReasonTexts pins the stored texts: existing rows hold them, and the API shows them.
func TestReasonTexts(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "disabled by a person", health.DisabledByPerson.String())
	assert.Equal(t, "the receiver answered 410 Gone", health.DisabledByGone.String())
	assert.Equal(t, "failure threshold reached: 10 consecutive failed deliveries", health.DisabledByThreshold(10).String())
	assert.Equal(t, health.FailWebhookDisabled.String(), health.FailWebhookDisabled.String())
	assert.Equal(t, health.FailWebhookDeleted.String(), health.FailWebhookDeleted.String())
}

func TestDisableCause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reason health.DisableReason
		want   health.DisableCause
	}{
		{health.DisabledByPerson, health.CausePerson},
		{health.DisabledByGone, health.CauseGone},
		{health.DisabledByThreshold(1), health.CauseThreshold},
		{health.DisabledByThreshold(250), health.CauseThreshold},
		{"failure threshold reached: 10 consecutive failed deliveries and more", health.CauseOther},
		{"failure threshold reached: ten consecutive failed deliveries", health.CauseOther},
		{"disabled before hookd kept reasons", health.CauseOther},
		{"", health.CauseOther},
	} {
		assert.Equal(t, tc.want, tc.reason.Cause(), "%q", tc.reason)
	}
}

func TestMissed(t *testing.T) {
	t.Parallel()
	assert.True(t, health.Missed(health.FailWebhookDisabled.String()))
	assert.False(t, health.Missed(health.FailWebhookDeleted.String()))
	assert.False(t, health.Missed("HTTP 410 Gone"))
	assert.False(t, health.Missed(""))
}
