import { SignatureStyle } from "./gen/hookd/v1/webhook_pb.js";

/** Standard Webhooks header names set by hookd on every delivery. */
export const HEADER_WEBHOOK_ID = "webhook-id";
export const HEADER_WEBHOOK_TIMESTAMP = "webhook-timestamp";
/** Space-separated signatures: "v1,<base64 HMAC-SHA256>" or "v1a,<base64 ed25519>". */
export const HEADER_WEBHOOK_SIGNATURE = "webhook-signature";

/** How far webhook-timestamp may be from the receiver's clock, either way (5 minutes). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Thrown by {@link verifyWebhook} for a request that is not authentic. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Fetch `Headers`, or a plain object such as Node's `IncomingHttpHeaders`. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

/** Body exactly as received (do not re-serialize parsed JSON: the signature covers the bytes). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

/** Options of {@link verifyWebhook}. */
export interface VerifyOptions {
  /** Allowed clock difference in seconds (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default now). */
  now?: Date;
  /** The webhook's `signatureHeader` (default "webhook-signature"). */
  signatureHeader?: string;
  /** The webhook's `idHeader` (default "webhook-id"). */
  idHeader?: string;
  /** The webhook's `timestampHeader` (default "webhook-timestamp"). */
  timestampHeader?: string;
  /**
   * The webhook's `signatureStyle` (default STANDARD_WEBHOOKS). With SIGNATURE_STYLE_HEX_BODY the signature is
   * `sha256=<hex HMAC-SHA256 of the body>` keyed with the secret exactly as shown (GitHub's style): it covers
   * the body only, so no id or timestamp is checked.
   */
  signatureStyle?: SignatureStyle;
}

/** The default body hookd sends for an event (webhooks without a body_template). */
export interface Envelope<T = unknown> {
  /** Event id (evt_…). */
  id: string;
  /** Event type name, e.g. "user.created". */
  type: string;
  /** When the event was published (RFC 3339). */
  timestamp: string;
  /** The customer or user the event is about. */
  subject?: string;
  /** The event payload. */
  data: T;
  meta: {
    /** Delivery id (dlv_…), equal to the webhook-id header and stable across retries: dedupe on it. */
    deliveryId: string;
    /** Attempt number, from 1. */
    attempt: number;
    /** Action-status URL for async_status webhooks (see completeAction). */
    link: string;
  };
}

const encoder = new TextEncoder();

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") {
    return (headers as Headers).get(name) ?? undefined;
  }
  const rec = headers as Record<string, string | string[] | undefined>;
  for (const k of Object.keys(rec)) {
    if (k.toLowerCase() === name) {
      const v = rec[k];
      return Array.isArray(v) ? v.join(" ") : v;
    }
  }
  return undefined;
}

function bytes(body: WebhookBody): Uint8Array {
  if (typeof body === "string") return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  return new Uint8Array(body);
}

function fromBase64(s: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

/** Prefix of a webhook's HMAC-SHA256 signing secret (`Webhook.secret`). */
export const SECRET_PREFIX = "whsec_";
/** Prefix of a webhook's ed25519 public key (`Webhook.public_key`, SIGNING_ALGORITHM_ED25519). */
export const PUBLIC_KEY_PREFIX = "whpk_";

/**
 * Verifies hookd's Standard Webhooks signature with WebCrypto (Node.js 20+ and browsers) over
 * "webhook-id.webhook-timestamp.body". `key` is the webhook's "whsec_…" secret (HMAC-SHA256, `v1,`
 * signatures) or, for webhooks signed with SIGNING_ALGORITHM_ED25519, its "whpk_…" public key (ed25519,
 * `v1a,` signatures). Any of several space-separated signatures may match (secret or key rotation);
 * the timestamp must be within ±5 minutes. Resolves when authentic; rejects with
 * {@link WebhookVerificationError} otherwise, and with a TypeError for a malformed key.
 */
export async function verifyWebhook(
  key: string,
  headers: HeadersLike,
  body: WebhookBody,
  options: VerifyOptions = {},
): Promise<void> {
  const sigName = (options.signatureHeader || HEADER_WEBHOOK_SIGNATURE).toLowerCase();
  if (options.signatureStyle === SignatureStyle.HEX_BODY) {
    return verifyHexBody(key, header(headers, sigName), bytes(body));
  }
  const id = header(headers, (options.idHeader || HEADER_WEBHOOK_ID).toLowerCase());
  const ts = header(headers, (options.timestampHeader || HEADER_WEBHOOK_TIMESTAMP).toLowerCase());
  const sigs = header(headers, sigName);
  if (!id || !ts || !sigs) {
    throw new WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header");
  }
  if (!/^\d+$/.test(ts)) {
    throw new WebhookVerificationError(`invalid webhook-timestamp ${JSON.stringify(ts)}`);
  }
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const sent = Number(ts);
  if (now - sent > tolerance) throw new WebhookVerificationError("message timestamp too old");
  if (sent - now > tolerance) throw new WebhookVerificationError("message timestamp too new");

  const [version, cryptoKey, algorithm] = key.startsWith(PUBLIC_KEY_PREFIX)
    ? ["v1a", await importPublicKey(key), "Ed25519"]
    : ["v1", await importSecret(key), "HMAC"];
  const prefix = encoder.encode(`${id}.${ts}.`);
  const payload = bytes(body);
  const signed = new Uint8Array(prefix.length + payload.length);
  signed.set(prefix);
  signed.set(payload, prefix.length);

  for (const part of sigs.split(" ")) {
    const comma = part.indexOf(",");
    if (comma < 0 || part.slice(0, comma) !== version) continue;
    const sig = fromBase64(part.slice(comma + 1));
    if (!sig || sig.length === 0) continue;
    // subtle.verify compares HMACs in constant time.
    if (await globalThis.crypto.subtle.verify(algorithm, cryptoKey, sig, signed)) return;
  }
  throw new WebhookVerificationError("no matching signature found");
}

/** Checks `sha256=<hex HMAC-SHA256 of body>` signatures (space-separated during a rotation), keyed with the bytes
 * of the secret as shown. */
async function verifyHexBody(secret: string, sigs: string | undefined, body: Uint8Array): Promise<void> {
  if (!sigs) throw new WebhookVerificationError("missing signature header");
  const cryptoKey = await globalThis.crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  for (const part of sigs.split(" ")) {
    const hex = part.startsWith("sha256=") ? part.slice(7) : "";
    if (!/^[0-9a-f]{64}$/i.test(hex)) continue;
    const sig = new Uint8Array(32);
    for (let i = 0; i < 32; i++) sig[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    const data = new Uint8Array(body); // a copy backed by an ArrayBuffer, as WebCrypto wants
    if (await globalThis.crypto.subtle.verify("HMAC", cryptoKey, sig, data)) return;
  }
  throw new WebhookVerificationError("no matching signature found");
}

/** Imports a "whsec_<base64>" secret (the prefix is optional) as an HMAC-SHA256 key. */
async function importSecret(secret: string): Promise<CryptoKey> {
  if (secret.startsWith("whsk_")) {
    throw new TypeError("whsk_ is an ed25519 webhook's private signing key: verify with its whpk_ public key");
  }
  const raw = fromBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
  if (!raw || raw.length === 0) {
    throw new TypeError("webhook secret is not whsec_<base64> (nor a whpk_ public key)");
  }
  return globalThis.crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
}

/** Imports a "whpk_<base64 32 bytes>" ed25519 public key. */
async function importPublicKey(key: string): Promise<CryptoKey> {
  const raw = fromBase64(key.slice(PUBLIC_KEY_PREFIX.length));
  if (!raw || raw.length !== 32) {
    throw new TypeError("webhook public key is not whpk_<base64 of 32 bytes>");
  }
  try {
    return await globalThis.crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    if (err instanceof Error && err.name === "NotSupportedError") {
      throw new TypeError("this runtime's WebCrypto has no Ed25519 (Node.js 20+ and current browsers have it)");
    }
    throw err;
  }
}

/**
 * Verifies like {@link verifyWebhook} (with the webhook's whsec_ secret or whpk_ public key), then
 * parses the body as an event {@link Envelope}.
 */
export async function parseWebhook<T = unknown>(
  key: string,
  headers: HeadersLike,
  body: WebhookBody,
  options?: VerifyOptions,
): Promise<Envelope<T>> {
  await verifyWebhook(key, headers, body, options);
  const text = typeof body === "string" ? body : new TextDecoder().decode(bytes(body));
  return JSON.parse(text) as Envelope<T>;
}

/** Thrown by {@link completeAction} when the link answers other than 200 (404: unknown or used-up token). */
export class ActionStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`action status ${status}: ${message}`);
    this.name = "ActionStatusError";
  }
}

/** Result of an async action. */
export type ActionResult = { status: "done" } | { status: "failed"; reason: string };

/**
 * Finishes the WAITING delivery of an async_status webhook by POSTing to the envelope's `meta.link`
 * (no API key: the link is the capability).
 */
export async function completeAction(
  link: string,
  result: ActionResult,
  options: { fetch?: typeof globalThis.fetch; signal?: AbortSignal } = {},
): Promise<void> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const res = await doFetch(link, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(result),
    signal: options.signal,
  });
  const text = await res.text();
  if (res.status === 200) return;
  let message = text.trim();
  try {
    const j = JSON.parse(text) as { message?: unknown };
    if (typeof j.message === "string") message = j.message;
  } catch {
    // Not JSON: keep the text.
  }
  throw new ActionStatusError(res.status, message);
}
