// The Logs filter bar: status, webhook, integration, event type, customer (subject) and time range, the same
// filters as ListDeliveries, WatchDeliveries, RetryDeliveries and ExportDeliveries. The filter lives in the
// page's query string (shareable, back button), never with the API key.
import { useEffect, useRef, useState } from "preact/hooks";
import { DeliveryStatus, type EventType, type Integration, type Webhook } from "@hookd/client";
import { STATUS_LABEL, toTs } from "../api";
import { Field } from "../ui";

/** What the bar selects. `range` is a preset (1h, 24h, 7d) or "custom" with after/before (datetime-local). */
export interface LogFilter {
  statuses: DeliveryStatus[];
  webhookId: string;
  integrationId: string;
  eventType: string;
  subject: string;
  /** tenantId narrows to one tenant's deliveries (absent: every tenant's and the project's own). */
  tenantId?: string;
  range: "" | "1h" | "24h" | "7d" | "custom";
  after: string;
  before: string;
}

export const EMPTY_FILTER: LogFilter = { statuses: [], webhookId: "", integrationId: "", eventType: "", subject: "", range: "", after: "", before: "" };

export const FILTER_STATUSES = [
  DeliveryStatus.QUEUED,
  DeliveryStatus.RETRYING,
  DeliveryStatus.WAITING,
  DeliveryStatus.DONE,
  DeliveryStatus.FAILED,
  DeliveryStatus.CANCELLED,
];

const RANGE_MS = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 } as const;

/** The API's DeliveryFilter for a bar filter, with presets resolved against now. */
export function toDeliveryFilter(f: LogFilter, now = new Date()) {
  const out: {
    statuses: DeliveryStatus[];
    webhookId: string;
    integrationId: string;
    eventType: string;
    subject: string;
    tenantId?: string;
    createTimeAfter?: { seconds: bigint; nanos: number };
    createTimeBefore?: { seconds: bigint; nanos: number };
  } = {
    statuses: [...f.statuses],
    webhookId: f.webhookId,
    integrationId: f.integrationId,
    eventType: f.eventType,
    subject: f.subject.trim(),
  };
  if (f.tenantId?.trim()) out.tenantId = f.tenantId.trim();
  if (f.range && f.range !== "custom") out.createTimeAfter = toTs(new Date(now.getTime() - RANGE_MS[f.range]));
  if (f.range === "custom") {
    if (f.after) out.createTimeAfter = toTs(new Date(f.after));
    if (f.before) out.createTimeBefore = toTs(new Date(f.before));
  }
  return out;
}

const STATUS_PARAM: Record<string, DeliveryStatus> = Object.fromEntries(FILTER_STATUSES.map((s) => [STATUS_LABEL[s].toLowerCase(), s]));

/** The filter as query parameters (status=failed&status=done&webhook=…). */
export function filterToQuery(f: LogFilter): string {
  const q = new URLSearchParams();
  for (const s of f.statuses) q.append("status", STATUS_LABEL[s].toLowerCase());
  if (f.webhookId) q.set("webhook", f.webhookId);
  if (f.integrationId) q.set("integration", f.integrationId);
  if (f.eventType) q.set("event_type", f.eventType);
  if (f.subject) q.set("subject", f.subject);
  if (f.tenantId) q.set("tenant", f.tenantId);
  if (f.range) q.set("range", f.range);
  if (f.range === "custom" && f.after) q.set("after", f.after);
  if (f.range === "custom" && f.before) q.set("before", f.before);
  return q.toString();
}

/** Reads a filter back from the query string (unknown values are ignored). */
export function filterFromQuery(search: string): LogFilter {
  const q = new URLSearchParams(search);
  const range = q.get("range") ?? "";
  const tenant = q.get("tenant");
  return {
    ...(tenant ? { tenantId: tenant } : {}),
    statuses: q.getAll("status").map((s) => STATUS_PARAM[s]).filter((s) => s !== undefined),
    webhookId: q.get("webhook") ?? "",
    integrationId: q.get("integration") ?? "",
    eventType: q.get("event_type") ?? "",
    subject: q.get("subject") ?? "",
    range: (["1h", "24h", "7d", "custom"].includes(range) ? range : "") as LogFilter["range"],
    after: q.get("after") ?? "",
    before: q.get("before") ?? "",
  };
}

export const isEmptyFilter = (f: LogFilter) => filterToQuery(f) === "";

/** How long the customer field waits after the last keystroke before it applies. */
export const SUBJECT_DEBOUNCE_MS = 400;

/** The customer (and tenant) field: keeps what is typed across re-renders; applies while typing (after SUBJECT_DEBOUNCE_MS), at once on Enter or leaving the field. */
function SubjectInput(props: { id: string; value: string; onValue: (v: string) => void; subjects?: string[]; placeholder?: string }) {
  const [v, setV] = useState(props.value);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => setV(props.value), [props.value]);
  useEffect(() => () => clearTimeout(timer.current), []);
  const apply = (x: string) => {
    clearTimeout(timer.current);
    if (x.trim() !== props.value) props.onValue(x.trim());
  };
  return (
    <>
      <input
        id={props.id}
        type="search"
        placeholder={props.placeholder ?? "subject, e.g. cus_42"}
        list={props.subjects?.length ? `${props.id}-subjects` : undefined}
        value={v}
        onInput={(e) => {
          const x = (e.target as HTMLInputElement).value;
          setV(x);
          clearTimeout(timer.current);
          timer.current = setTimeout(() => apply(x), SUBJECT_DEBOUNCE_MS);
        }}
        onChange={(e) => apply((e.target as HTMLInputElement).value)}
      />
      {props.subjects?.length ? (
        <datalist id={`${props.id}-subjects`}>
          {props.subjects.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      ) : null}
    </>
  );
}

/** The bar itself; text fields apply on change (Enter or leaving the field; the customer also while typing), selects at once. */
export function FilterBar(props: {
  value: LogFilter;
  onChange: (f: LogFilter) => void;
  webhooks: Webhook[];
  integrations: Integration[];
  eventTypes: EventType[];
  /** subjects are recent customers, offered as suggestions. */
  subjects?: string[];
}) {
  const f = props.value;
  const set = (patch: Partial<LogFilter>) => props.onChange({ ...f, ...patch });
  const sel = (e: Event) => (e.target as HTMLSelectElement).value;
  return (
    <form class="filters" role="search" aria-label="Filter deliveries" onSubmit={(e) => e.preventDefault()}>
      <fieldset class="statuses">
        <legend>Status</legend>
        {FILTER_STATUSES.map((s) => (
          <label key={s} class="chip">
            <input
              type="checkbox"
              checked={f.statuses.includes(s)}
              onChange={(e) =>
                set({ statuses: (e.target as HTMLInputElement).checked ? [...f.statuses, s] : f.statuses.filter((x) => x !== s) })
              }
            />
            {STATUS_LABEL[s]}
          </label>
        ))}
      </fieldset>
      <Field label="Webhook">
        {(id) => (
          <select id={id} value={f.webhookId} onChange={(e) => set({ webhookId: sel(e) })}>
            <option value="">All webhooks</option>
            {props.webhooks.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Integration">
        {(id) => (
          <select id={id} value={f.integrationId} onChange={(e) => set({ integrationId: sel(e) })}>
            <option value="">All integrations</option>
            {props.integrations.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Event type">
        {(id) => (
          <select id={id} value={f.eventType} onChange={(e) => set({ eventType: sel(e) })}>
            <option value="">All event types</option>
            {props.eventTypes.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Customer">
        {(id) => (
          <SubjectInput id={id} value={f.subject} onValue={(subject) => set({ subject })} subjects={props.subjects} />
        )}
      </Field>
      <Field label="Tenant">
        {(id) => (
          <SubjectInput
            id={id}
            placeholder="tenant id"
            value={f.tenantId ?? ""}
            onValue={(v) => {
              const { tenantId: _, ...rest } = f;
              props.onChange(v ? { ...rest, tenantId: v } : rest);
            }}
          />
        )}
      </Field>
      <Field label="Created">
        {(id) => (
          <select id={id} value={f.range} onChange={(e) => set({ range: sel(e) as LogFilter["range"] })}>
            <option value="">Any time</option>
            <option value="1h">Last hour</option>
            <option value="24h">Last 24 hours</option>
            <option value="7d">Last 7 days</option>
            <option value="custom">Between…</option>
          </select>
        )}
      </Field>
      {f.range === "custom" && (
        <>
          <Field label="From">
            {(id) => <input id={id} type="datetime-local" value={f.after} onChange={(e) => set({ after: (e.target as HTMLInputElement).value })} />}
          </Field>
          <Field label="Until">
            {(id) => <input id={id} type="datetime-local" value={f.before} onChange={(e) => set({ before: (e.target as HTMLInputElement).value })} />}
          </Field>
        </>
      )}
      {!isEmptyFilter(f) && (
        <button type="button" class="small" onClick={() => props.onChange(EMPTY_FILTER)}>
          Clear filters
        </button>
      )}
    </form>
  );
}
