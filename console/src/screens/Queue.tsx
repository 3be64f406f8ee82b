// Queue (seed 002): deliveries waiting for an attempt or a callback, soonest first — id, customer, webhook
// ("trusted site"), retries and the next attempt time; for ordered webhooks, what a held delivery waits for, and a
// "blocked keys" filter that lists only the heads holding back their ordering key.
import { useEffect, useState } from "preact/hooks";
import { fmtTime, useSession } from "../api";
import { Check, Empty, ListState, PageHead, Pager, StatusBadge, usePaged } from "../ui";

export function Queue() {
  const { client } = useSession();
  const [blocked, setBlocked] = useState(false);
  const p = usePaged(async (pageToken) => {
    const r = await client.deliveries.listDeliveries({ pageToken, pageSize: 50, queue: true, blocked });
    return { items: r.deliveries, next: r.nextPageToken };
  }, [blocked]);
  // The queue moves on its own: refresh the first page every 5 s.
  useEffect(() => {
    if (p.page !== 1) return;
    const t = setInterval(p.reload, 5000);
    return () => clearInterval(t);
  }, [p.page]);
  return (
    <section>
      <PageHead title="Queue" sub="Deliveries that wait for their next attempt or for an async callback, soonest first.">
        <Check label="Blocked keys only" name="blocked" checked={blocked} onChange={setBlocked} />
        <button type="button" onClick={p.reload}>
          Refresh
        </button>
      </PageHead>
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
                  <th>Status</th>
                  <th>Attempts</th>
                  <th>Retries</th>
                  <th>Next attempt</th>
                  <th>Waits for</th>
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
                      {d.webhookName || <span class="mono small">{d.webhookId}</span>}
                      {d.integrationName && <div class="muted small">{d.integrationName}</div>}
                    </td>
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
