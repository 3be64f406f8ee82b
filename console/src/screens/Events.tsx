// Events: what was published (type, customer, payload) and the deliveries each event made. A delivery links
// here from its "event evt_…".
import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import type { Event } from "@hookd/client";
import { apiError, fmtTime, useSession, type ApiError } from "../api";
import { Empty, ListState, Notice, PageHead, Pager, usePaged } from "../ui";
import { DeliveryTable } from "./Logs";

function counts(e: Event): string {
  const c = e.deliveryCounts;
  if (!c) return "—";
  const parts = Object.entries({ queued: c.queued, retrying: c.retrying, waiting: c.waiting, done: c.done, failed: c.failed, cancelled: c.cancelled })
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`);
  return parts.join(", ") || "none";
}

export function Events() {
  const { client } = useSession();
  const [eventType, setEventType] = useState("");
  const [subject, setSubject] = useState("");
  const p = usePaged(async (pageToken) => {
    const r = await client.events.listEvents({ pageToken, pageSize: 50, eventType, subject });
    return { items: r.events, next: r.nextPageToken };
  }, [eventType, subject]);
  return (
    <section>
      <PageHead title="Events" sub="Everything published, newest first, with the deliveries each event made." />
      <form class="card form filters" role="search" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="ev-type">Event type</label>
          <input id="ev-type" type="search" value={eventType} placeholder="order.paid" onInput={(e) => setEventType((e.target as HTMLInputElement).value.trim())} />
        </div>
        <div class="field">
          <label for="ev-subject">Customer</label>
          <input id="ev-subject" type="search" value={subject} placeholder="cus_42" onInput={(e) => setSubject((e.target as HTMLInputElement).value.trim())} />
        </div>
      </form>
      <ListState items={p.items} err={p.err} empty={<Empty title="No events">Events appear here when they are published (API, SDK or a trigger).</Empty>}>
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Created</th>
                  <th>Event</th>
                  <th>Customer</th>
                  <th>Deliveries</th>
                </tr>
              </thead>
              <tbody>
                {items.map((e) => (
                  <tr key={e.id}>
                    <td>{fmtTime(e.createTime)}</td>
                    <td>
                      <a class="mono" href={`/events/${e.id}`}>
                        {e.id}
                      </a>
                      <div class="mono small">{e.eventType}</div>
                    </td>
                    <td>{e.subject ? <a href={`/customers/${encodeURIComponent(e.subject)}`}>{e.subject}</a> : <span class="muted">—</span>}</td>
                    <td class="small">{counts(e)}</td>
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

export function EventDetail() {
  const { params } = useRoute();
  const { client } = useSession();
  const [ev, setEv] = useState<Event | null>(null);
  const [err, setErr] = useState<ApiError | null>(null);
  useEffect(() => {
    client.events.getEvent({ id: params.id }).then((r) => setEv(r.event!), (e) => setErr(apiError(e)));
  }, [params.id]);
  const deliveries = usePaged(async (pageToken) => {
    const r = await client.deliveries.listDeliveries({ pageToken, pageSize: 50, filter: { eventId: params.id } });
    return { items: r.deliveries, next: r.nextPageToken };
  }, [params.id]);
  if (err) return <Notice kind="error">{err.message}</Notice>;
  if (!ev) return <p class="muted">Loading…</p>;
  return (
    <section>
      <PageHead title={<>Event <span class="mono">{ev.id}</span></>} sub={<a href="/events">Events</a>} />
      <dl class="facts card">
        <div>
          <dt>Created</dt>
          <dd>{fmtTime(ev.createTime)}</dd>
        </div>
        <div>
          <dt>Event type</dt>
          <dd class="mono">{ev.eventType}</dd>
        </div>
        <div>
          <dt>Customer</dt>
          <dd>{ev.subject ? <a href={`/customers/${encodeURIComponent(ev.subject)}`}>{ev.subject}</a> : "—"}</dd>
        </div>
        {ev.tenantId && (
          <div>
            <dt>Tenant</dt>
            <dd class="mono">{ev.tenantId}</dd>
          </div>
        )}
        {ev.idempotencyKey && (
          <div>
            <dt>Idempotency key</dt>
            <dd class="mono">{ev.idempotencyKey}</dd>
          </div>
        )}
        <div>
          <dt>Deliveries</dt>
          <dd>{counts(ev)}</dd>
        </div>
      </dl>
      <h2>Payload</h2>
      {ev.payloadExpired ? <p class="muted">The payload has expired (retention).</p> : <pre class="code">{JSON.stringify(ev.payload ?? {}, null, 2)}</pre>}
      <h2>Deliveries</h2>
      <ListState items={deliveries.items} err={deliveries.err} empty={<Empty title="No deliveries">No webhook was subscribed to this event.</Empty>}>
        {(items) => <DeliveryTable deliveries={items} />}
      </ListState>
      <Pager p={deliveries} />
    </section>
  );
}
