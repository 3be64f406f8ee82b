import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  createContextValues,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ActionStatusService } from "./gen/hookd/v1/action_status_service_pb.js";
import { ApiKeyService } from "./gen/hookd/v1/api_key_service_pb.js";
import { DeliveryService } from "./gen/hookd/v1/delivery_service_pb.js";
import { EventService, type PublishEventRequest, type PublishEventsRequest } from "./gen/hookd/v1/event_service_pb.js";
import { EventTypeService } from "./gen/hookd/v1/event_type_service_pb.js";
import { IntegrationService } from "./gen/hookd/v1/integration_service_pb.js";
import { PortalService } from "./gen/hookd/v1/portal_service_pb.js";
import { ProjectService } from "./gen/hookd/v1/project_service_pb.js";
import { SubscriptionService } from "./gen/hookd/v1/subscription_service_pb.js";
import { TriggerService } from "./gen/hookd/v1/trigger_service_pb.js";
import { WebhookService } from "./gen/hookd/v1/webhook_service_pb.js";

/** Retry settings of {@link createHookdClient} and {@link retryInterceptor}. */
export interface RetryOptions {
  /** How many times a retryable call is sent again (default 3; 0 disables retries). */
  retryMax?: number;
  /** First backoff step in milliseconds (default 250); each further step doubles, with jitter. */
  retryWaitMinMs?: number;
  /** Cap of every backoff step in milliseconds, a server's Retry-After included (default 10000). */
  retryWaitMaxMs?: number;
}

/** Options of {@link createHookdClient}. */
export interface HookdClientOptions extends RetryOptions {
  /** Base URL of the hookd server, e.g. "http://127.0.0.1:8080". Not used when `transport` is given. */
  baseUrl?: string;
  /** API key sent as `Authorization: Bearer <apiKey>` on every call (server side; never hand one to a browser). */
  apiKey?: string;
  /**
   * Portal token ("hps_…", from PortalService.CreatePortalSession) sent as `Authorization: Bearer <token>`:
   * the browser's credential, confined to one tenant, short-lived, and allowed by CORS from the session's
   * allowed origins. Give either `apiKey` or `token`. In a portal page, read it with {@link portalTokenFromLocation}.
   */
  token?: string;
  /**
   * Transport to use instead of the default Connect-over-fetch one, e.g. `createGrpcWebTransport(...)`
   * from @connectrpc/connect-web or `createGrpcTransport(...)` from @connectrpc/connect-node.
   * The API key, the default timeout and the retries are added around it.
   */
  transport?: Transport;
  /** Default transport only: send binary protobuf instead of JSON (default false: JSON, readable in devtools). */
  useBinaryFormat?: boolean;
  /** Default transport only: the fetch function (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** Default transport only: extra interceptors (logging, tracing, ...); they see every attempt. */
  interceptors?: Interceptor[];
  /** Timeout of each call in milliseconds, retries included, when the call gives none (default 30000; 0 = none). */
  timeoutMs?: number;
}

/** One typed Connect client per hookd.v1 service. */
export interface HookdClient {
  projects: Client<typeof ProjectService>;
  apiKeys: Client<typeof ApiKeyService>;
  integrations: Client<typeof IntegrationService>;
  webhooks: Client<typeof WebhookService>;
  eventTypes: Client<typeof EventTypeService>;
  subscriptions: Client<typeof SubscriptionService>;
  events: Client<typeof EventService>;
  deliveries: Client<typeof DeliveryService>;
  actionStatus: Client<typeof ActionStatusService>;
  triggers: Client<typeof TriggerService>;
  /** Portal sessions: CreatePortalSession/RevokePortalSessions (ADMIN keys), GetCurrentPortalSession (portal tokens). */
  portal: Client<typeof PortalService>;
  /** The transport all clients share (API key attached, retries and default timeout applied). */
  transport: Transport;
}

/** Default timeout of each call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Default number of retries of a retryable call. */
export const DEFAULT_RETRY_MAX = 3;
/** Default first backoff step, in milliseconds. */
export const DEFAULT_RETRY_WAIT_MIN_MS = 250;
/** Default cap of a backoff step (and of Retry-After), in milliseconds. */
export const DEFAULT_RETRY_WAIT_MAX_MS = 10_000;

/**
 * Creates clients for every hookd.v1 service. Works in Node.js 20+ (global fetch) and browsers
 * (start hookd with `--cors-origin <your origin>`).
 *
 * Calls safe to send twice are retried (see {@link retryInterceptor}); each call is bounded by
 * `timeoutMs`, retries included, unless it sets its own `timeoutMs`.
 */
export function createHookdClient(options: HookdClientOptions): HookdClient {
  const credential = options.apiKey || options.token;
  if (!credential) {
    throw new TypeError("createHookdClient: apiKey (or a portal token) is required");
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const defaultTimeoutMs = timeoutMs > 0 ? timeoutMs : undefined;
  const interceptors = [authInterceptor(credential), retryInterceptor(options)];
  let transport: Transport;
  if (options.transport) {
    transport = intercept(options.transport, interceptors, defaultTimeoutMs);
  } else {
    if (!options.baseUrl) {
      throw new TypeError("createHookdClient: baseUrl is required without a transport");
    }
    transport = createConnectTransport({
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      useBinaryFormat: options.useBinaryFormat ?? false,
      fetch: options.fetch,
      // The transport's deadline wraps the interceptors: it bounds a call with all its retries.
      defaultTimeoutMs,
      interceptors: [...interceptors, ...(options.interceptors ?? [])],
    });
  }
  return {
    projects: createClient(ProjectService, transport),
    apiKeys: createClient(ApiKeyService, transport),
    integrations: createClient(IntegrationService, transport),
    webhooks: createClient(WebhookService, transport),
    eventTypes: createClient(EventTypeService, transport),
    subscriptions: createClient(SubscriptionService, transport),
    events: createClient(EventService, transport),
    deliveries: createClient(DeliveryService, transport),
    actionStatus: createClient(ActionStatusService, transport),
    triggers: createClient(TriggerService, transport),
    portal: createClient(PortalService, transport),
    transport,
  };
}

/** An interceptor that sends `Authorization: Bearer <apiKey>` on every request. */
export function authInterceptor(apiKey: string): Interceptor {
  return (next) => (req) => {
    req.header.set("Authorization", `Bearer ${apiKey}`);
    return next(req);
  };
}

/**
 * Whether a call can be sent again safely: unary RPCs whose proto declares `idempotency_level`
 * NO_SIDE_EFFECTS or IDEMPOTENT (every Get and List), and PublishEvent/PublishEvents when every event
 * carries an idempotency key (hookd answers a repeated key with the first result).
 */
export function isRetryableCall(method: DescMethod, message?: unknown): boolean {
  if (method.methodKind !== "unary") return false;
  switch (method.idempotency) {
    case MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS:
    case MethodOptions_IdempotencyLevel.IDEMPOTENT:
      return true;
  }
  if (method.parent.typeName !== EventService.typeName) return false;
  switch (method.name) {
    case EventService.method.publishEvent.name:
      return ((message as PublishEventRequest | undefined)?.idempotencyKey ?? "") !== "";
    case EventService.method.publishEvents.name: {
      const events = (message as PublishEventsRequest | undefined)?.events ?? [];
      return events.length > 0 && events.every((e) => e.idempotencyKey !== "");
    }
  }
  return false;
}

/**
 * Whether a failed attempt is worth another: a network error, or the Connect codes of HTTP 429, 502,
 * 503 and 504 — `unavailable` (503, and what a proxy's 429/502/503/504 become), `resource_exhausted`
 * (429) and `deadline_exceeded` (504) from the server. Never other codes: other 4xx, 500.
 */
function isRetryableError(err: unknown): boolean {
  if (err instanceof ConnectError) {
    switch (err.code) {
      case Code.Unavailable:
      case Code.ResourceExhausted:
      case Code.DeadlineExceeded:
        return true;
      case Code.Unknown:
        // A network error that a transport below already wrapped.
        return err.cause instanceof TypeError;
    }
    return false;
  }
  // fetch rejects with a TypeError when the request could not be sent or the response not read.
  return err instanceof TypeError;
}

/**
 * An interceptor that retries calls that are safe to send twice ({@link isRetryableCall}) after
 * network errors and HTTP 429/502/503/504 ({@link RetryOptions}): exponential backoff with jitter,
 * honouring Retry-After up to the backoff cap. Streams are never retried. It stops when the call's
 * signal aborts (its deadline or the caller's cancellation).
 */
export function retryInterceptor(options: RetryOptions = {}): Interceptor {
  const retryMax = Math.max(0, options.retryMax ?? DEFAULT_RETRY_MAX);
  const waitMin = options.retryWaitMinMs ?? DEFAULT_RETRY_WAIT_MIN_MS;
  const waitMax = Math.max(waitMin, options.retryWaitMaxMs ?? DEFAULT_RETRY_WAIT_MAX_MS);
  return (next) => async (req) => {
    if (req.stream || retryMax === 0 || !isRetryableCall(req.method, req.message)) {
      return next(req);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return await next(req);
      } catch (err) {
        if (attempt >= retryMax || req.signal.aborted || !isRetryableError(err)) throw err;
        const retryAfter = err instanceof ConnectError ? err.metadata.get("retry-after") : null;
        await sleep(backoffMs(waitMin, waitMax, attempt, retryAfter), req.signal);
      }
    }
  };
}

/** Retry-After (capped at waitMax) or waitMin·2^attempt with jitter in [d/2, d], capped at waitMax. */
function backoffMs(waitMin: number, waitMax: number, attempt: number, retryAfter: string | null): number {
  const ra = parseRetryAfterMs(retryAfter, Date.now());
  if (ra !== undefined) return Math.min(ra, waitMax);
  const d = Math.min(waitMin * 2 ** attempt, waitMax);
  return d / 2 + Math.random() * (d / 2);
}

/** A Retry-After value (seconds or an HTTP date) in milliseconds, or undefined. */
function parseRetryAfterMs(v: string | null, now: number): number | undefined {
  if (v === null || v === "") return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(t - now, 0);
}

/** Resolves after ms, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs interceptors around a transport that was built without them (the `transport` option), with the
 * default timeout as the deadline of the whole call; each attempt gets what is left of it.
 */
function intercept(t: Transport, interceptors: Interceptor[], defaultTimeoutMs: number | undefined): Transport {
  const deadline = (timeoutMs: number | undefined) =>
    timeoutMs === undefined ? defaultTimeoutMs : timeoutMs <= 0 ? undefined : timeoutMs;
  const left = (end: number | undefined) => (end === undefined ? undefined : Math.max(1, end - Date.now()));
  return {
    unary(method, signal, timeoutMs, header, message, contextValues) {
      const ms = deadline(timeoutMs);
      const end = ms === undefined ? undefined : Date.now() + ms;
      return runUnaryCall({
        interceptors,
        signal,
        timeoutMs: ms,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: `/${method.parent.typeName}/${method.name}`,
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message,
        },
        next: (req) => t.unary(req.method, req.signal, left(end), req.header, req.message, req.contextValues),
      });
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      const ms = deadline(timeoutMs);
      const end = ms === undefined ? undefined : Date.now() + ms;
      return runStreamingCall({
        interceptors,
        signal,
        timeoutMs: ms,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: `/${method.parent.typeName}/${method.name}`,
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) => t.stream(req.method, req.signal, left(end), req.header, req.message, req.contextValues),
      });
    },
  };
}
