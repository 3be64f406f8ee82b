// Queue (seed 002): deliveries waiting for an attempt or a callback, soonest first — id, customer, webhook
// ("trusted site"), retries and the next attempt time, with per-row Send now and Cancel, live over WatchDeliveries;
// for ordered webhooks, what a held delivery waits for, and a "blocked keys" filter that lists only the heads
// holding back their ordering key.
import { useRef, useState } from "preact/hooks";
import { DeliveryStatus, type Delivery } from "@hookd/client";
import { fmtTime, useSession } from "../api";
import { Check, Empty, FormError, ListState, Notice, PageHead, Pager, StatusBadge, useAction, usePaged } from "../ui";
import { LiveNotice, useLiveDeliveries } from "./Logs";

/** WatchDeliveries of every delivery (the queue reloads on any change). */
const ALL = { statuses: [], webhookId: "", integrationId: "", eventType: "", subject: "" };

export function Queue() {
  const { client, canWrite } = useSession();
  const [blocked, setBlocked] = useState(false);
  const act = useAction();
  const done = useRef("");
  const p = usePaged(async (pageToken) => {
    const r = await client.deliveries.listDeliveries({ pageToken, pageSize: 50, queue: true, blocked });
    return { items: r.deliveries, next: r.nextPageToken };
  }, [blocked]);
  // The queue moves on its own: live like Logs (WatchDeliveries; each change reloads the first page, at most
  // every 500 ms), polling while the stream is unavailable.
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const soon = () => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      p.reload();
    }, 500);
  };
  const mode = useLiveDeliveries(client, ALL, "queue", p.page === 1, soon, p.reload);
  const sendNow = (d: Delivery) =>
    act.run(async () => {
      await client.deliveries.retryDelivery({ id: d.id });
      done.current = `${d.id} is due now.`;
      p.reload();
    });
  const cancel = (d: Delivery) =>
    confirm(`Cancel delivery ${d.id}? It is not attempted again.`) &&
    act.run(async () => {
      await client.deliveries.cancelDelivery({ id: d.id });
      done.current = `${d.id} cancelled.`;
      p.reload();
    });
  return (
    <section>
      <PageHead title="Queue" sub="Deliveries that wait for their next attempt or for an async callback, soonest first.">
        <Check label="Blocked keys only" name="blocked" checked={blocked} onChange={setBlocked} />
        <button type="button" onClick={p.reload}>
          Refresh
        </button>
      </PageHead>
      <LiveNotice mode={p.page === 1 ? mode : "paused"} />
      <FormError err={act.err} />
      {done.current && !act.err && <Notice kind="ok">{done.current}</Notice>}
      <ListState
        items={p.items}
        err={p.err}
        empty={
          blocked ? (
            <Empty title="No blocked key">No delivery of an ordered webhook is holding back later ones of its ordering key.</Empty>
          ) : (
            <Empty title="The queue is empty">Every delivery has finished. New events show up in <a href="/logs">Logs</a>.</Empty>
          )
        }
      >
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>ID</th>
                  <th>Customer</th>
                  <th>Webhook</th>
                  <th>Integration</th>
                  <th>Status</th>
                  <th>Attempts</th>
                  <th>Retries</th>
                  <th>Next attempt</th>
                  <th>Waits for</th>
                  {canWrite && <th>Actions</th>}
                </tr>
              </thead>
              <tbody>
                {items.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <a class="mono" href={`/logs/${d.id}`}>
                        {d.id}
                      </a>
                    </td>
                    <td>{d.subject ? <a href={`/customers/${encodeURIComponent(d.subject)}`}>{d.subject}</a> : <span class="muted">—</span>}</td>
                    <td>
                      <a href={`/webhooks/${d.webhookId}`}>{d.webhookName || <span class="mono small">{d.webhookId}</span>}</a>
                    </td>
                    <td>{d.integrationId ? <a href={`/integrations/${d.integrationId}`}>{d.integrationName || d.integrationId}</a> : <span class="muted">—</span>}</td>
                    <td>
                      <StatusBadge status={d.status} />
                    </td>
                    <td>{d.attempts}</td>
                    <td>{d.retries}</td>
                    <td>{d.blockedBy ? <span class="muted">after</span> : fmtTime(d.nextAttemptTime)}</td>
                    <td>
                      {d.blockedBy ? (
                        <a class="mono small" href={`/logs/${d.blockedBy}`} title={`ordering key ${d.orderingKey}`}>
                          {d.blockedBy}
                        </a>
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    {canWrite && (
                      <td>
                        <div class="row-actions">
                          {d.status !== DeliveryStatus.WAITING && (
                            <button type="button" class="small" disabled={act.busy} onClick={() => void sendNow(d)} aria-label={`Send ${d.id} now`}>
                              Send now
                            </button>
                          )}
                          <button type="button" class="small danger" disabled={act.busy} onClick={() => void cancel(d)} aria-label={`Cancel ${d.id}`}>
                            Cancel
                          </button>
                        </div>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </ListState>
      <Pager p={p} />
    </section>
  );
}
