package console

import (
	"encoding/json"
	"flag"
	"fmt"

	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/sender"
	"github.com/hookd/hookd/internal/store"
)

// The console computes and offers what the server decides through @hookd/client (sdk/typescript). These tests
// pin the SDK to the server: the URL join to one table of cases, the webhook defaults to a file generated from
// the Go values.

var update = flag.Bool("update", false, "rewrite sdk/typescript/src/defaults.ts from the server's values")

// sdkDir is the TypeScript SDK, relative to this package.
var sdkDir = filepath.Join("..", "..", "sdk", "typescript")

// TestFullURLCases: sender.FullURL gives every case of the table the SDK's fullUrl is tested on
// (sdk/typescript/test/url.test.mjs).
func TestFullURLCases(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(sdkDir, "test", "full-url-cases.json"))
	require.NoError(t, err)
	var cases []struct {
		URL     string  `json:"url"`
		Path    string  `json:"path"`
		BaseURL *string `json:"baseUrl"` // null: no integration
		Want    string  `json:"want"`
	}
	require.NoError(t, json.Unmarshal(raw, &cases))
	require.NotEmpty(t, cases)
	for _, c := range cases {
		var in *store.Integration
		if c.BaseURL != nil {
			in = &store.Integration{BaseURL: *c.BaseURL}
		}
		got := sender.FullURL(&store.Webhook{URL: c.URL, Path: c.Path}, in)
		require.Equal(t, c.Want, got, "url %q path %q base %v", c.URL, c.Path, c.BaseURL)
	}
}

// TestSDKDefaults: sdk/typescript/src/defaults.ts holds the server's webhook defaults (go test -update rewrites it).
func TestSDKDefaults(t *testing.T) {
	t.Parallel()
	methods, err := json.Marshal(store.HTTPMethods)
	require.NoError(t, err)
	want := fmt.Sprintf(`// Generated from the server's Go values by TestSDKDefaults (internal/console/contract_test.go); do not edit.
// Regenerate: go test ./internal/console -run TestSDKDefaults -update

/** The HTTP methods a webhook may send (Webhook.method). */
export const WEBHOOK_METHODS: readonly string[] = %s;
/** The method of a webhook created without one. */
export const DEFAULT_WEBHOOK_METHOD = %q;
/** The per-attempt timeout of a webhook created without one, in seconds. */
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = %d;
/** The longest per-attempt timeout a webhook may set, in seconds. */
export const MAX_WEBHOOK_TIMEOUT_SECONDS = %d;
`, strings.ReplaceAll(string(methods), ",", ", "), store.DefaultHTTPMethod, int(sender.DefaultTimeout.Seconds()), int(sender.DefaultTimeout.Seconds()))
	path := filepath.Join(sdkDir, "src", "defaults.ts")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, string(got), "%s is stale: go test ./internal/console -run TestSDKDefaults -update", path)
}
