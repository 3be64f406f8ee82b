// Generated from the server's Go values by TestSDKDefaults (internal/console/contract_test.go); do not edit.
// Regenerate: go test ./internal/console -run TestSDKDefaults -update

/** The HTTP methods a webhook may send (Webhook.method). */
export const WEBHOOK_METHODS: readonly string[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/** The method of a webhook created without one. */
export const DEFAULT_WEBHOOK_METHOD = "POST";
/** The per-attempt timeout of a webhook created without one, in seconds. */
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 15;
/** The longest per-attempt timeout a webhook may set, in seconds. */
export const MAX_WEBHOOK_TIMEOUT_SECONDS = 15;
