/**
 * @hookd/client — TypeScript client for hookd.
 *
 * - {@link createHookdClient}: typed Connect clients for every hookd.v1 service (API key or portal token, timeout and
 *   retries as Connect-ES interceptors: {@link authInterceptor}, {@link retryInterceptor}).
 * - {@link portalTokenFromLocation}: a portal token from the page's `#token=` fragment (kept in sessionStorage).
 * - {@link verifyWebhook} / {@link parseWebhook}: Standard Webhooks verification with WebCrypto
 *   (HMAC-SHA256 `v1` with a whsec_ secret, ed25519 `v1a` with a whpk_ public key).
 * - {@link completeAction}: answer an async_status delivery's `meta.link`.
 * - {@link fieldViolations}: the fields an invalid_argument error names; {@link fullUrl}: a webhook's URL as the
 *   server joins it; the server's webhook defaults ({@link WEBHOOK_METHODS}, {@link DEFAULT_WEBHOOK_METHOD}, …).
 * - All generated messages, enums and schemas of hookd.v1 (e.g. `DeliveryStatus`, `IntegrationSchema`).
 */
export {
  authInterceptor,
  createHookdClient,
  DEFAULT_RETRY_MAX,
  DEFAULT_RETRY_WAIT_MAX_MS,
  DEFAULT_RETRY_WAIT_MIN_MS,
  DEFAULT_TIMEOUT_MS,
  isRetryableCall,
  retryInterceptor,
  type HookdClient,
  type HookdClientOptions,
  type RetryOptions,
} from "./client.js";
export {
  Code,
  ConnectError,
  codeOf,
  fieldViolations,
  hasCode,
  invalidArgument,
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
  isPermissionDenied,
  isUnauthenticated,
  type FieldViolation,
} from "./errors.js";
export {
  DEFAULT_WEBHOOK_METHOD,
  DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
  MAX_WEBHOOK_TIMEOUT_SECONDS,
  WEBHOOK_METHODS,
} from "./defaults.js";
export { fullUrl } from "./url.js";
export { PORTAL_TOKEN_KEY, portalTokenFromLocation, type PortalLocation } from "./portal.js";
export {
  ActionStatusError,
  completeAction,
  DEFAULT_TOLERANCE_SECONDS,
  HEADER_WEBHOOK_ID,
  HEADER_WEBHOOK_SIGNATURE,
  HEADER_WEBHOOK_TIMESTAMP,
  parseWebhook,
  PUBLIC_KEY_PREFIX,
  SECRET_PREFIX,
  verifyWebhook,
  WebhookVerificationError,
  type ActionResult,
  type Envelope,
  type HeadersLike,
  type VerifyOptions,
  type WebhookBody,
} from "./webhook.js";
export { create, fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
export * from "./gen/hookd/v1/index.js";
