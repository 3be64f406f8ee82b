// Logs (seed 002): created, event, customer, response code, status — filtered, live (WatchDeliveries, or
// polling every second while the server does not implement it), with bulk resend and CSV/NDJSON export of the
// current filter.
import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { DeliveryStatus, ExportFormat, type Delivery, type EventType, type HookdClient, type Integration, type Webhook } from "@hookd/client";
import { apiError, fmtTime, isUnimplemented, saveBlob, useSession } from "../api";
import { CodeBadge, Dialog, Empty, FormError, ListState, Notice, PageHead, Pager, StatusBadge, useAction, usePaged } from "../ui";
import { useRecentSubjects } from "./Customer";
import { FilterBar, filterFromQuery, filterToQuery, isEmptyFilter, toDeliveryFilter, type LogFilter } from "./FilterBar";

/** Page size of the log. */
export const LOG_PAGE_SIZE = 50;
/** Polling interval while WatchDeliveries is unavailable. */
export const POLL_MS = 1000;

type DFilter = ReturnType<typeof toDeliveryFilter>;

/** Webhooks, integrations and event types for filter menus and names. */
export function useCatalog() {
  const { client } = useSession();
  const [webhooks, setWebhooks] = useState<Webhook[]>([]);
  const [integrations, setIntegrations] = useState<Integration[]>([]);
  const [eventTypes, setEventTypes] = useState<EventType[]>([]);
  useEffect(() => {
    client.webhooks.listWebhooks({ pageSize: 1000 }).then((r) => setWebhooks(r.webhooks), () => {});
    client.integrations.listIntegrations({ pageSize: 1000 }).then((r) => setIntegrations(r.integrations), () => {});
    client.eventTypes.listEventTypes({ pageSize: 1000 }).then((r) => setEventTypes(r.eventTypes), () => {});
  }, []);
  return { webhooks, integrations, eventTypes };
}

export type LiveMode = "connecting" | "live" | "polling";

/**
 * Keeps a page of deliveries up to date: WatchDeliveries streams changes (each one is merged); while the server
 * answers unimplemented (or the stream breaks) `refresh` runs every POLL_MS instead, and once after every
 * reconnect so nothing that happened in between is missed.
 */
export function useLiveDeliveries(
  client: HookdClient,
  filter: DFilter,
  key: string,
  enabled: boolean,
  onChange: (d: Delivery) => void,
  refresh: () => void,
): LiveMode {
  const [mode, setMode] = useState<LiveMode>("connecting");
  const cb = useRef({ onChange, refresh });
  cb.current = { onChange, refresh };
  useEffect(() => {
    if (!enabled) return;
    const ctl = new AbortController();
    let poll: ReturnType<typeof setInterval> | undefined;
    const startPolling = () => {
      setMode("polling");
      if (!poll) poll = setInterval(() => cb.current.refresh(), POLL_MS);
    };
    const stopPolling = () => {
      if (poll) clearInterval(poll);
      poll = undefined;
    };
    (async () => {
      let failures = 0;
      let attempt = 0;
      while (!ctl.signal.aborted) {
        try {
          // A stream lives up to an hour (the client's default 30 s timeout would cut it), then reconnects.
          const stream = client.deliveries.watchDeliveries({ filter }, { signal: ctl.signal, timeoutMs: 3_600_000 });
          let open = false;
          for await (const res of stream) {
            if (!open) {
              // The server's first message (a heartbeat) says the watch is registered.
              open = true;
              stopPolling();
              setMode("live");
              if (attempt++ > 0) cb.current.refresh(); // what changed while disconnected
            }
            failures = 0;
            if (res.delivery) cb.current.onChange(res.delivery);
          }
        } catch (e) {
          if (ctl.signal.aborted) return;
          startPolling();
          if (isUnimplemented(e)) return; // this server has no live tail: keep polling
          failures++;
        }
        if (ctl.signal.aborted) return;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** Math.min(failures, 5))));
      }
    })();
    return () => {
      ctl.abort();
      stopPolling();
    };
  }, [client, key, enabled]);
  return mode;
}

/** Merges a changed delivery into a newest-first page (new ones on top, the page keeps its size). */
export function mergeDelivery(items: Delivery[], d: Delivery, max: number): Delivery[] {
  const i = items.findIndex((x) => x.id === d.id);
  if (i >= 0) return items.map((x, j) => (j === i ? { ...x, ...d, webhookName: d.webhookName || x.webhookName } : x));
  return [d, ...items].slice(0, max);
}

export function Logs() {
  const { client, canWrite } = useSession();
  const recentSubjects = useRecentSubjects(client);
  const { url, route } = useLocation();
  const search = url.includes("?") ? url.slice(url.indexOf("?")) : "";
  const filter = filterFromQuery(search);
  const fkey = filterToQuery(filter);
  const catalog = useCatalog();
  const [filterNow] = useState(() => new Date());
  const apiFilter = toDeliveryFilter(filter, filterNow);
  const p = usePaged(async (pageToken) => {
    const r = await client.deliveries.listDeliveries({ pageToken, pageSize: LOG_PAGE_SIZE, filter: toDeliveryFilter(filter) });
    return { items: r.deliveries, next: r.nextPageToken };
  }, [fkey]);

  const onFirstPage = p.page === 1;
  const refresh = () => {
    if (!onFirstPage) return;
    client.deliveries.listDeliveries({ pageSize: LOG_PAGE_SIZE, filter: toDeliveryFilter(filter) }).then(
      (r) => p.setItems(r.deliveries),
      () => {},
    );
  };
  const mode = useLiveDeliveries(client, apiFilter, fkey, onFirstPage, (d) => p.setItems((items) => mergeDelivery(items ?? [], d, LOG_PAGE_SIZE)), refresh);

  const setFilter = (f: LogFilter) => {
    const q = filterToQuery(f);
    route(q ? `/logs?${q}` : "/logs", true);
  };

  return (
    <section>
      <PageHead title="Logs" sub="Every delivery: one event sent to one webhook, with all of its attempts.">
        <ExportButtons filter={filter} />
        {canWrite && <BulkResend filter={filter} onDone={p.reload} />}
      </PageHead>
      <FilterBar value={filter} onChange={setFilter} {...catalog} subjects={recentSubjects.map((r) => r.subject)} />
      <LiveNotice mode={onFirstPage ? mode : "paused"} />
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title={isEmptyFilter(filter) ? "No deliveries yet" : "No deliveries match these filters"}>
            {isEmptyFilter(filter) ? (
              <>
                Deliveries appear here (live) when an event is published to a subscribed webhook: create a{" "}
                <a href="/webhooks">webhook</a>, <a href="/subscriptions">subscribe</a> it, then publish with{" "}
                <code>PublishEvent</code>.
              </>
            ) : (
              <>
                Change or <a href="/logs">clear the filters</a>.
              </>
            )}
          </Empty>
        }
      >
        {(items) => <DeliveryTable deliveries={items} />}
      </ListState>
      <Pager p={p} />
    </section>
  );
}

export function LiveNotice(props: { mode: LiveMode | "paused" }) {
  switch (props.mode) {
    case "live":
      return (
        <p class="live" role="status">
          <span class="dot" aria-hidden="true" /> Live
        </p>
      );
    case "polling":
      return (
        <p class="live polling" role="status">
          Live updates unavailable (WatchDeliveries): refreshing every second.
        </p>
      );
    case "paused":
      return (
        <p class="live paused" role="status">
          Live updates show on the first page.
        </p>
      );
    default:
      return (
        <p class="live" role="status">
          Connecting…
        </p>
      );
  }
}

export function DeliveryTable(props: { deliveries: Delivery[]; hideSubject?: boolean }) {
  return (
    <div class="table-wrap">
      <table class="log">
        <thead>
          <tr>
            <th>Created</th>
            <th>Event</th>
            {!props.hideSubject && <th>Customer</th>}
            <th>Webhook</th>
            <th>Response</th>
            <th>Status</th>
            <th>Attempts</th>
          </tr>
        </thead>
        <tbody>
          {props.deliveries.map((d) => (
            <tr key={d.id} data-delivery={d.id}>
              <td>
                <a href={`/logs/${d.id}`} aria-label={`Delivery ${d.id}`}>
                  {fmtTime(d.createTime)}
                </a>
              </td>
              <td class="mono">{d.eventType}</td>
              {!props.hideSubject && (
                <td>{d.subject ? <a href={`/customers/${encodeURIComponent(d.subject)}`}>{d.subject}</a> : <span class="muted">—</span>}</td>
              )}
              <td>{d.webhookName || <span class="mono small">{d.webhookId}</span>}</td>
              <td>
                <CodeBadge code={d.lastStatusCode} />
              </td>
              <td>
                <StatusBadge status={d.status} />
                {d.resent && <span class="muted small"> resent</span>}
                {d.reason && <div class="muted small reason">{d.reason}</div>}
              </td>
              <td>{d.attempts}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Statuses RetryDeliveries resends for a filter: FAILED and DONE only, FAILED when the filter names none. */
export function resendable(statuses: DeliveryStatus[]): DeliveryStatus[] {
  if (statuses.length === 0) return [DeliveryStatus.FAILED];
  return statuses.filter((s) => s === DeliveryStatus.FAILED || s === DeliveryStatus.DONE);
}

/** Counting stops here ("more than …"). */
const COUNT_CAP = 10_000;

function BulkResend(props: { filter: LogFilter; onDone: () => void }) {
  const { client } = useSession();
  const [open, setOpen] = useState(false);
  const [count, setCount] = useState<number | null>(null);
  const [more, setMore] = useState(false);
  const [result, setResult] = useState("");
  const act = useAction();
  const statuses = resendable(props.filter.statuses);
  const filter = { ...toDeliveryFilter(props.filter), statuses };

  const start = () => {
    setOpen(true);
    setCount(null);
    setResult("");
    void act.run(async () => {
      let n = 0;
      let pageToken = "";
      do {
        const r = await client.deliveries.listDeliveries({ filter, pageSize: 1000, pageToken });
        n += r.deliveries.length;
        pageToken = r.nextPageToken;
      } while (pageToken && n < COUNT_CAP);
      setMore(!!pageToken);
      setCount(n);
    });
  };
  return (
    <>
      <button type="button" onClick={start}>
        Resend…
      </button>
      <Dialog open={open} title="Resend deliveries" onClose={() => setOpen(false)}>
        {statuses.length === 0 ? (
          <p>Only FAILED and DONE deliveries can be resent; the status filter selects neither.</p>
        ) : count === null && !act.err ? (
          <p>Counting…</p>
        ) : result ? (
          <Notice kind="ok">{result}</Notice>
        ) : (
          count !== null && (
            <p>
              Resend <strong data-testid="resend-count">{more ? `more than ${count}` : count}</strong>{" "}
              {statuses.map((s) => (s === DeliveryStatus.FAILED ? "failed" : "done")).join(" and ")}{" "}
              {count === 1 ? "delivery" : "deliveries"} matching the current filter? Each is sent again with the same
              webhook-id.
            </p>
          )
        )}
        <FormError err={act.err} />
        <div class="buttons">
          {!result && count !== null && count > 0 && (
            <button
              type="button"
              class="primary"
              disabled={act.busy}
              onClick={() =>
                void act.run(async () => {
                  const r = await client.deliveries.retryDeliveries({ filter });
                  setResult(`${r.count} ${r.count === 1 ? "delivery" : "deliveries"} queued for resending.`);
                  props.onDone();
                })
              }
            >
              Resend {more ? `${count}+` : count}
            </button>
          )}
          <button type="button" onClick={() => setOpen(false)}>
            {result ? "Close" : "Cancel"}
          </button>
        </div>
      </Dialog>
    </>
  );
}

/** Exports the current filter through the ExportDeliveries stream and saves it as a file. */
function ExportButtons(props: { filter: LogFilter }) {
  const { client } = useSession();
  const [busy, setBusy] = useState("");
  const [err, setErr] = useState("");
  const run = async (format: ExportFormat, ext: string, type: string) => {
    setBusy(ext);
    setErr("");
    try {
      const parts: Uint8Array[] = [];
      for await (const chunk of client.deliveries.exportDeliveries({ format, filter: toDeliveryFilter(props.filter) }, { timeoutMs: 600_000 })) {
        parts.push(chunk.data);
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
      saveBlob(parts as BlobPart[], type, `hookd-deliveries-${stamp}.${ext}`);
    } catch (e) {
      setErr(apiError(e).message);
    } finally {
      setBusy("");
    }
  };
  return (
    <span class="export">
      <button type="button" disabled={!!busy} onClick={() => run(ExportFormat.CSV, "csv", "text/csv")}>
        {busy === "csv" ? "Exporting…" : "Export CSV"}
      </button>
      <button type="button" disabled={!!busy} onClick={() => run(ExportFormat.NDJSON, "ndjson", "application/x-ndjson")}>
        {busy === "ndjson" ? "Exporting…" : "Export NDJSON"}
      </button>
      {err && (
        <span class="field-error" role="alert">
          {err}
        </span>
      )}
    </span>
  );
}
