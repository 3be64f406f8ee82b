package storesql_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestTargetNames(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, s *storetest.DB) {
		f := setup(t, s)
		in := &store.Integration{ProjectID: f.project.ID, Name: "CRM", BaseURL: "https://crm.example.com/", CreateTime: f.next()}
		require.NoError(t, s.CreateIntegration(f.ctx, in))
		other := f.newProject(t, "other")
		theirs := f.newWebhook(t, other.ID, "theirs")
		second := f.newWebhook(t, f.project.ID, "second")

		got, err := s.WebhookNames(f.ctx, f.project.ID, []string{f.webhook.ID, second.ID, f.webhook.ID, theirs.ID, "wh_gone", ""})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{f.webhook.ID: f.webhook.Name, second.ID: second.Name}, got,
			"duplicates read once; other projects' and unknown ids are left out")
		got, err = s.IntegrationNames(f.ctx, f.project.ID, []string{in.ID, in.ID})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{in.ID: "CRM"}, got)
		got, err = s.IntegrationNames(f.ctx, other.ID, []string{in.ID})
		require.NoError(t, err)
		assert.Empty(t, got)
		got, err = s.WebhookNames(f.ctx, f.project.ID, nil)
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}
