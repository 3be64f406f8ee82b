/**
 * @hookd/client — TypeScript client for hookd.
 *
 * - {@link createHookdClient}: typed Connect clients for every hookd.v1 service.
 * - {@link verifyWebhook} / {@link parseWebhook}: Standard Webhooks verification with WebCrypto.
 * - {@link completeAction}: answer an async_status delivery's `meta.link`.
 * - All generated messages, enums and schemas of hookd.v1 (e.g. `DeliveryStatus`, `IntegrationSchema`).
 */
export { createHookdClient, DEFAULT_TIMEOUT_MS, type HookdClient, type HookdClientOptions } from "./client.js";
export {
  Code,
  ConnectError,
  codeOf,
  hasCode,
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
  isPermissionDenied,
  isUnauthenticated,
} from "./errors.js";
export {
  ActionStatusError,
  completeAction,
  DEFAULT_TOLERANCE_SECONDS,
  HEADER_WEBHOOK_ID,
  HEADER_WEBHOOK_SIGNATURE,
  HEADER_WEBHOOK_TIMESTAMP,
  parseWebhook,
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
