// Session, API client and the helpers every screen shares. The console talks to hookd only through
// @hookd/client (Connect JSON over fetch to this origin; WatchDeliveries and ExportDeliveries as Connect
// server streams).
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import {
  Code,
  ConnectError,
  createHookdClient,
  DeliveryStatus,
  fieldViolations,
  fullUrl as joinedUrl,
  invalidArgument,
  Role,
  type ApiKey,
  type HookdClient,
  type JsonObject,
  type Project,
} from "@hookd/client";

/** sessionStorage key of the API key: the key lives for this tab only and never appears in a URL. */
export const SESSION_KEY = "hookd.apiKey";

/** Who is signed in, as told by ApiKeyService.GetCurrentApiKey. */
export interface Session {
  client: HookdClient;
  key: ApiKey;
  project: Project;
  /** MEMBER or ADMIN: may create, change and delete. */
  canWrite: boolean;
  /** ADMIN: sees private header values and secrets (on request), manages API keys. */
  isAdmin: boolean;
  /** Instance admin: may create projects and keys in any project. */
  isInstanceAdmin: boolean;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

/** The signed-in session (screens render only inside a signed-in layout). */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside a signed-in console");
  return s;
}

/** Builds the client for an API key, against the origin that served the console. */
export function clientFor(apiKey: string, baseUrl = location.origin): HookdClient {
  return createHookdClient({ baseUrl, apiKey });
}

/** Checks a key with GetCurrentApiKey and returns the session it opens. */
export async function signIn(apiKey: string, signOut: () => void, baseUrl?: string): Promise<Session> {
  const client = clientFor(apiKey, baseUrl);
  const res = await client.apiKeys.getCurrentApiKey({});
  const key = res.apiKey!;
  const isAdmin = key.role === Role.ADMIN;
  return {
    client,
    key,
    project: res.project!,
    canWrite: isAdmin || key.role === Role.MEMBER,
    isAdmin,
    isInstanceAdmin: isAdmin && key.instanceAdmin,
    signOut,
  };
}

/** An API error split into the field it names (if any) and its message. */
export interface ApiError {
  field?: string;
  message: string;
  code?: Code;
}

/**
 * Converts anything thrown by a call. The field of an invalid_argument error is its google.rpc.BadRequest detail
 * (fieldViolations); already_exists carries none, its message starts with the field ("name: …").
 */
export function apiError(err: unknown): ApiError {
  if (err instanceof ConnectError) {
    const msg = err.rawMessage;
    const [v] = fieldViolations(err);
    if (v) return { field: v.field, message: v.description, code: err.code };
    const m = /^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*): ([\s\S]*)$/.exec(msg);
    if (m && err.code === Code.AlreadyExists) return { field: m[1], message: m[2], code: err.code };
    return { message: msg || Code[err.code], code: err.code };
  }
  return { message: err instanceof Error ? err.message : String(err) };
}

/** Whether an error names the given field or one inside it (headers → headers[0].value). */
export function errorFor(err: ApiError | null | undefined, field: string): string | undefined {
  if (!err?.field) return undefined;
  const f = err.field;
  return f === field || f.startsWith(field + ".") || f.startsWith(field + "[") ? err.message : undefined;
}

export const isUnimplemented = (err: unknown) => err instanceof ConnectError && err.code === Code.Unimplemented;

type Ts = { seconds: bigint; nanos: number } | undefined;

/** A protobuf Timestamp as a Date (undefined when unset). */
export function tsDate(ts: Ts): Date | undefined {
  if (!ts) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6));
}

/** A Date as a protobuf Timestamp init. */
export function toTs(d: Date): { seconds: bigint; nanos: number } {
  const ms = d.getTime();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

/** A protobuf Duration in milliseconds (0 when unset). */
export function durMs(d: Ts): number {
  return d ? Number(d.seconds) * 1000 + d.nanos / 1e6 : 0;
}

/** Milliseconds as a protobuf Duration init. */
export function toDur(ms: number): { seconds: bigint; nanos: number } {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: Math.round((ms % 1000) * 1e6) };
}

/** The browser's offset from UTC as "UTC", "UTC+2" or "UTC-3:30" (at the given time: summer time differs). */
export function fmtZone(d: Date): string {
  const off = -d.getTimezoneOffset();
  if (off === 0) return "UTC";
  const a = Math.abs(off);
  return `UTC${off < 0 ? "-" : "+"}${Math.floor(a / 60)}${a % 60 ? ":" + String(a % 60).padStart(2, "0") : ""}`;
}

/** "2026-03-01 12:00:05 UTC+1" in local time, with the zone (support compares it with other systems' logs). */
export function fmtTime(ts: Ts | Date): string {
  const d = ts instanceof Date ? ts : tsDate(ts);
  if (!d) return "—";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${fmtZone(d)}`;
}

/** "1.2 s", "85 ms". */
export function fmtDur(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  return `${Math.round(ms)} ms`;
}

/** Status names as the product documents show them. */
export const STATUS_LABEL: Record<DeliveryStatus, string> = {
  [DeliveryStatus.UNSPECIFIED]: "—",
  [DeliveryStatus.QUEUED]: "Queued",
  [DeliveryStatus.RETRYING]: "Retrying",
  [DeliveryStatus.WAITING]: "Waiting",
  [DeliveryStatus.DONE]: "Done",
  [DeliveryStatus.FAILED]: "Failed",
  [DeliveryStatus.CANCELLED]: "Cancelled",
};

export const ROLE_LABEL: Record<Role, string> = {
  [Role.UNSPECIFIED]: "—",
  [Role.ADMIN]: "ADMIN",
  [Role.MEMBER]: "MEMBER",
  [Role.VIEWER]: "VIEWER",
};

/** Value shown instead of private values for keys that are not ADMIN (the API sends it). */
export const MASKED = "********";

/**
 * The URL a webhook calls, as the server joins it (@hookd/client's fullUrl); without an integration, the path
 * typed so far.
 */
export function fullUrl(url: string, path: string, baseUrl: string | undefined): string {
  return baseUrl === undefined && !url ? path : joinedUrl(url, path, baseUrl);
}

/** Downloads bytes as a file (no URL carries the API key: the data was fetched with the Authorization header). */
export function saveBlob(parts: BlobPart[], type: string, name: string): void {
  const url = URL.createObjectURL(new Blob(parts, { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Parses JSON typed into an editor: undefined for blank, an object, or a thrown error naming the field. */
export function parseJsonObject(text: string, field: string): JsonObject | undefined {
  if (!text.trim()) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(field, `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw invalidArgument(field, "must be a JSON object");
  }
  return v as JsonObject;
}
