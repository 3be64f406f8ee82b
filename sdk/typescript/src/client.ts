import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ActionStatusService } from "./gen/hookd/v1/action_status_service_pb.js";
import { ApiKeyService } from "./gen/hookd/v1/api_key_service_pb.js";
import { DeliveryService } from "./gen/hookd/v1/delivery_service_pb.js";
import { EventService } from "./gen/hookd/v1/event_service_pb.js";
import { EventTypeService } from "./gen/hookd/v1/event_type_service_pb.js";
import { IntegrationService } from "./gen/hookd/v1/integration_service_pb.js";
import { ProjectService } from "./gen/hookd/v1/project_service_pb.js";
import { SubscriptionService } from "./gen/hookd/v1/subscription_service_pb.js";
import { TriggerService } from "./gen/hookd/v1/trigger_service_pb.js";
import { WebhookService } from "./gen/hookd/v1/webhook_service_pb.js";

/** Options of {@link createHookdClient}. */
export interface HookdClientOptions {
  /** Base URL of the hookd server, e.g. "http://127.0.0.1:8080". Not used when `transport` is given. */
  baseUrl?: string;
  /** API key sent as `Authorization: Bearer <apiKey>` on every call. */
  apiKey: string;
  /**
   * Transport to use instead of the default Connect-over-fetch one, e.g. `createGrpcWebTransport(...)`
   * from @connectrpc/connect-web or `createGrpcTransport(...)` from @connectrpc/connect-node.
   * The API key is added to its requests.
   */
  transport?: Transport;
  /** Default transport only: send binary protobuf instead of JSON (default false: JSON, readable in devtools). */
  useBinaryFormat?: boolean;
  /** Default transport only: the fetch function (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** Default transport only: extra interceptors (logging, tracing, ...). */
  interceptors?: Interceptor[];
  /** Timeout of each call in milliseconds when the call gives none (default 30000; 0 = none). */
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
  /** The transport all clients share (API key attached). */
  transport: Transport;
}

/** Default timeout of each call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Creates clients for every hookd.v1 service. Works in Node.js 20+ (global fetch) and browsers
 * (start hookd with `--cors-origin <your origin>`).
 */
export function createHookdClient(options: HookdClientOptions): HookdClient {
  if (!options.apiKey) {
    throw new TypeError("createHookdClient: apiKey is required");
  }
  let base = options.transport;
  if (!base) {
    if (!options.baseUrl) {
      throw new TypeError("createHookdClient: baseUrl is required without a transport");
    }
    base = createConnectTransport({
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      useBinaryFormat: options.useBinaryFormat ?? false,
      fetch: options.fetch,
      interceptors: options.interceptors,
    });
  }
  const transport = withApiKey(base, options.apiKey, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
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
    transport,
  };
}

/** Wraps any transport so that every request carries the API key and a default timeout. */
function withApiKey(t: Transport, apiKey: string, defaultTimeoutMs: number): Transport {
  const auth = (header: HeadersInit | undefined): Headers => {
    const h = new Headers(header);
    h.set("Authorization", `Bearer ${apiKey}`);
    return h;
  };
  const timeout = (ms: number | undefined) => ms ?? (defaultTimeoutMs > 0 ? defaultTimeoutMs : undefined);
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      return t.unary(method, signal, timeout(timeoutMs), auth(header), input, contextValues);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return t.stream(method, signal, timeout(timeoutMs), auth(header), input, contextValues);
    },
  };
}
