package auth_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/store/storetest"
)

// The bootstrap key is chosen by the operator: no part of it is stored as a prefix or logged.
func TestBootstrapKeyKeepsNoPrefix(t *testing.T) {
	t.Parallel()
	storetest.ForEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		const chosen = "operator-chosen-bootstrap-key"
		var logs bytes.Buffer
		if _, err := auth.Bootstrap(ctx, st, chosen, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		k, err := auth.Authenticate(ctx, st, chosen)
		if err != nil {
			t.Fatal(err)
		}
		if k.Prefix != "" {
			t.Errorf("stored prefix %q of the operator's key", k.Prefix)
		}
		if strings.Contains(logs.String(), chosen[:6]) {
			t.Errorf("the log shows part of the bootstrap key:\n%s", logs.String())
		}
		// A generated key keeps its prefix (it is random, so the prefix reveals nothing useful).
		gen := &store.APIKey{ProjectID: auth.DefaultProjectID, Name: "gen", Role: store.RoleViewer}
		secret, err := auth.IssueKey(ctx, st, gen)
		if err != nil {
			t.Fatal(err)
		}
		if gen.Prefix != secret[:auth.PrefixLen] {
			t.Errorf("generated key prefix %q", gen.Prefix)
		}
	})
}
