package trigger_test

import (
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/trigger"
)

// The settings that decide which request values are credentials (api_key_header, signature, drop_headers,
// drop_query_parameters) change only with an ADMIN key; a MEMBER echoing them unchanged may edit the rest.
func TestCredentialSettingsNeedAdmin(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		sig := &hookdv1.TriggerSignature{Scheme: hookdv1.SignatureScheme_SIGNATURE_SCHEME_HMAC_SHA256, Secret: "s3cret", Header: "X-Sig"}
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", ApiKeyHeader: "X-Key", Signature: sig,
			DropHeaders: []string{"X-Internal"}, DropQueryParameters: []string{"token"}})
		str := func(s string) *string { return &s }
		denied := []struct {
			field string
			req   *hookdv1.UpdateTriggerRequest
		}{
			{"api_key_header", &hookdv1.UpdateTriggerRequest{ApiKeyHeader: str("X-Other")}},
			{"api_key_header", &hookdv1.UpdateTriggerRequest{ApiKeyHeader: str("")}},
			{"signature", &hookdv1.UpdateTriggerRequest{Signature: &hookdv1.TriggerSignature{}}},
			{"signature", &hookdv1.UpdateTriggerRequest{Signature: &hookdv1.TriggerSignature{
				Scheme: sig.Scheme, Secret: secret.Masked, Header: "X-Other"}}},
			{"drop_headers", &hookdv1.UpdateTriggerRequest{DropHeaders: &hookdv1.StringList{}}},
			{"drop_query_parameters", &hookdv1.UpdateTriggerRequest{DropQueryParameters: &hookdv1.StringList{Values: []string{"other"}}}},
		}
		for _, c := range denied {
			c.req.Id = trg.Id
			_, err := b.member.UpdateTrigger(b.ctx, connect.NewRequest(c.req))
			require.Equal(t, connect.CodePermissionDenied, connectCode(t, err), c.field)
			assert.Contains(t, err.Error(), c.field)
			_, err = b.admin.UpdateTrigger(b.ctx, connect.NewRequest(c.req))
			require.NoError(t, err, "ADMIN: %s", c.field)
			// Put the settings back for the next case.
			_, err = b.admin.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, ApiKeyHeader: str("X-Key"),
				ApiKey: str("tk_restored"), Signature: sig, DropHeaders: &hookdv1.StringList{Values: []string{"X-Internal"}},
				DropQueryParameters: &hookdv1.StringList{Values: []string{"token"}}}))
			require.NoError(t, err)
		}
		// What a MEMBER read, sent back unchanged (masked secret, header in another case), is no change.
		got, err := b.member.GetTrigger(b.ctx, connect.NewRequest(&hookdv1.GetTriggerRequest{Id: trg.Id}))
		require.NoError(t, err)
		g := got.Msg.Trigger
		require.Equal(t, secret.Masked, g.Signature.Secret)
		_, err = b.member.UpdateTrigger(b.ctx, connect.NewRequest(&hookdv1.UpdateTriggerRequest{Id: trg.Id, Name: str("renamed"),
			ApiKeyHeader: str("x-key"), Signature: g.Signature, DropHeaders: &hookdv1.StringList{Values: g.DropHeaders},
			DropQueryParameters: &hookdv1.StringList{Values: g.DropQueryParameters}}))
		require.NoError(t, err)
	})
}

// A trigger's API key is never recorded or published, in whatever header or query parameter callers keep
// sending it after api_key_header was renamed or cleared: it is recognised by its stored hash.
func TestAPIKeyRedactedAfterHeaderChange(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		trg := b.create(t, &hookdv1.CreateTriggerRequest{EventType: "order.created", ApiKeyHeader: "X-Key"})
		key := trg.ApiKey
		require.NotEmpty(t, key)
		str := func(s string) *string { return &s }
		update := func(req *hookdv1.UpdateTriggerRequest) *hookdv1.Trigger {
			t.Helper()
			req.Id = trg.Id
			res, err := b.admin.UpdateTrigger(b.ctx, connect.NewRequest(req))
			require.NoError(t, err)
			b.clock.Advance(2 * trigger.DefaultTriggerCacheTTL)
			return res.Msg.Trigger
		}
		// noKey checks that the execution of r and its event hold the key nowhere.
		noKey := func(r response) {
			t.Helper()
			e := b.execution(t, r)
			for _, h := range append(e.Headers, e.QueryParameters...) {
				assert.NotContains(t, h.Value, key, h.Name)
				if h.Name == "X-Key" || h.Name == "X-Custom" || h.Name == "api_key" {
					assert.Equal(t, store.Header{Name: h.Name, Value: secret.Masked, Private: true}, h)
				}
			}
			if e.EventID != "" {
				ev, err := b.st.GetEvent(b.ctx, b.project.ID, e.EventID)
				require.NoError(t, err)
				assert.NotContains(t, string(ev.Payload), key)
				p := b.payload(t, e)
				assert.NotContains(t, p["headers"], "x-key")
				assert.NotContains(t, p["headers"], "x-custom")
				assert.Equal(t, "yes", p["headers"].(map[string]any)["x-kept"])
				assert.Equal(t, map[string]any{"keep": "1"}, p["queryParameters"])
			}
		}

		// Renamed: callers still send the key in the old header (and the query); a 401 keeps it nowhere, and
		// neither does an accepted request that also carries it elsewhere.
		update(&hookdv1.UpdateTriggerRequest{ApiKeyHeader: str("X-New")})
		r := b.post(t, trg.Url+"?api_key="+key+"&keep=1", "application/json", `{}`, "X-Key", key, "X-Kept", "yes")
		require.Equal(t, http.StatusUnauthorized, r.status)
		noKey(r)
		r = b.post(t, trg.Url+"?api_key="+key+"&keep=1", "application/json", `{}`, "X-New", key, "X-Key", key,
			"X-Custom", "Bearer "+key, "X-Kept", "yes")
		require.Equal(t, http.StatusOK, r.status, r.body)
		noKey(r)

		// Cleared: no key is required any more, and the key callers keep sending is still redacted.
		cleared := update(&hookdv1.UpdateTriggerRequest{ApiKeyHeader: str("")})
		assert.Empty(t, cleared.ApiKey)
		r = b.post(t, trg.Url+"?api_key="+key+"&keep=1", "application/json", `{}`, "X-Key", key, "X-Custom", "Bearer "+key, "X-Kept", "yes")
		require.Equal(t, http.StatusOK, r.status, r.body)
		noKey(r)

		// Set again: a new key is generated; the retired one does not come back.
		again := update(&hookdv1.UpdateTriggerRequest{ApiKeyHeader: str("X-Key")})
		require.NotEmpty(t, again.ApiKey)
		assert.NotEqual(t, key, again.ApiKey)
		assert.Equal(t, http.StatusUnauthorized, b.post(t, trg.Url, "application/json", `{}`, "X-Key", key).status)
		assert.Equal(t, http.StatusOK, b.post(t, trg.Url, "application/json", `{}`, "X-Key", again.ApiKey).status)
	})
}
