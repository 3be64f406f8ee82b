// A customer (subject) view, like seed 004's per-user Webhooks tab: the events about one subject and every
// delivery sent for them.
import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import type { EraseSubjectResponse, HookdClient } from "@hookd/client";
import { fmtTime, tsDate, useSession } from "../api";
import { Empty, Field, ListState, PageHead, Pager, usePaged } from "../ui";
import { DeliveryTable } from "./Logs";

/** A customer seen in recent events: its subject, when last and how many of the recent events were about it. */
export interface RecentSubject {
  subject: string;
  last: Date | undefined;
  events: number;
}

/** How many of the newest events are scanned for recent customers. */
export const RECENT_EVENTS = 500;

/** The customers (subjects) of the newest RECENT_EVENTS events, most recent first. */
export function useRecentSubjects(client: HookdClient): RecentSubject[] {
  const [subjects, setSubjects] = useState<RecentSubject[]>([]);
  useEffect(() => {
    let stop = false;
    (async () => {
      const seen = new Map<string, RecentSubject>();
      let pageToken = "";
      for (let n = 0; n < RECENT_EVENTS; ) {
        const r = await client.events.listEvents({ pageSize: 100, pageToken });
        for (const e of r.events) {
          if (!e.subject) continue;
          const s = seen.get(e.subject);
          if (s) s.events++;
          else seen.set(e.subject, { subject: e.subject, last: tsDate(e.createTime), events: 1 });
        }
        n += r.events.length;
        if (!r.nextPageToken || r.events.length === 0) break;
        pageToken = r.nextPageToken;
      }
      if (!stop) setSubjects([...seen.values()]);
    })().catch(() => {});
    return () => void (stop = true);
  }, [client]);
  return subjects;
}

export function CustomerSearch() {
  const { route } = useLocation();
  const { client } = useSession();
  const [subject, setSubject] = useState("");
  const recent = useRecentSubjects(client);
  const q = subject.trim().toLowerCase();
  const shown = recent.filter((r) => !q || r.subject.toLowerCase().includes(q));
  return (
    <section>
      <PageHead title="Customers" sub="Everything sent about one customer: the events published with that subject and their deliveries." />
      <form
        class="card form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          if (subject.trim()) route(`/customers/${encodeURIComponent(subject.trim())}`);
        }}
      >
        <Field label="Customer (subject)" hint="The subject given when publishing, e.g. cus_42; the recent customers below narrow as you type.">
          {(id) => <input id={id} type="search" value={subject} onInput={(e) => setSubject((e.target as HTMLInputElement).value)} />}
        </Field>
        <div class="buttons">
          <button type="submit" class="primary">
            Show
          </button>
        </div>
      </form>
      <h2>Recent customers</h2>
      <ListState
        items={shown}
        err={null}
        empty={<Empty title={recent.length ? "No recent customer matches" : "No recent events with a customer"}>{`Customers of the newest ${RECENT_EVENTS} events are listed here.`}</Empty>}
      >
        {(items) => (
          <div class="table-wrap">
            <table aria-label="Recent customers">
              <thead>
                <tr>
                  <th>Customer</th>
                  <th>Last event</th>
                  <th>Recent events</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.subject}>
                    <td>
                      <a class="mono" href={`/customers/${encodeURIComponent(r.subject)}`}>
                        {r.subject}
                      </a>
                    </td>
                    <td>{r.last ? fmtTime(r.last) : "—"}</td>
                    <td>{r.events}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </ListState>
    </section>
  );
}

export function CustomerView() {
  const { params } = useRoute();
  const subject = decodeURIComponent(params.subject);
  const { client, isAdmin } = useSession();
  const [erasedAt, setErasedAt] = useState(0);
  const deliveries = usePaged(async (pageToken) => {
    const r = await client.deliveries.listDeliveries({ pageToken, pageSize: 50, filter: { subject } });
    return { items: r.deliveries, next: r.nextPageToken };
  }, [subject, erasedAt]);
  const events = usePaged(async (pageToken) => {
    const r = await client.events.listEvents({ pageToken, pageSize: 20, subject });
    return { items: r.events, next: r.nextPageToken };
  }, [subject, erasedAt]);
  return (
    <section>
      <PageHead title={<span class="mono">{subject}</span>} sub={<><a href="/customers">Customers</a> · <a href={`/logs?subject=${encodeURIComponent(subject)}`}>open in Logs</a></>} />
      <h2>Deliveries</h2>
      <ListState items={deliveries.items} err={deliveries.err} empty={<Empty title="Nothing was sent about this customer">Publish an event with <code>subject: "{subject}"</code>.</Empty>}>
        {(items) => <DeliveryTable deliveries={items} hideSubject />}
      </ListState>
      <Pager p={deliveries} />
      <h2>Events</h2>
      <ListState items={events.items} err={events.err} empty={<Empty title="No events about this customer" />}>
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Created</th>
                  <th>Event</th>
                  <th>Deliveries</th>
                  <th>Payload</th>
                </tr>
              </thead>
              <tbody>
                {items.map((e) => {
                  const c = e.deliveryCounts;
                  return (
                    <tr key={e.id}>
                      <td>{fmtTime(e.createTime)}</td>
                      <td>
                        <span class="mono">{e.eventType}</span>
                        <div class="muted mono small">{e.id}</div>
                      </td>
                      <td>
                        <a href={`/logs?subject=${encodeURIComponent(subject)}&event_type=${encodeURIComponent(e.eventType)}`}>
                          {c ? `${c.done} done, ${c.failed} failed, ${c.queued + c.retrying + c.waiting} pending` : "—"}
                        </a>
                      </td>
                      <td>
                        {e.payloadExpired ? (
                          <span class="muted" title="Dropped after the project's payload retention">expired</span>
                        ) : (
                          <details>
                            <summary>show</summary>
                            <pre class="code">{JSON.stringify(e.payload ?? null, null, 2)}</pre>
                          </details>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </ListState>
      <Pager p={events} />
      {isAdmin && <EraseCustomer subject={subject} erase={(s) => client.events.eraseSubject({ subject: s })} onErased={() => setErasedAt(Date.now())} />}
    </section>
  );
}

/**
 * EraseCustomer is the ADMIN action "Erase this customer's data": EventService.EraseSubject after the subject
 * was typed again (a typed confirmation), then the counts of what was deleted.
 */
export function EraseCustomer(props: {
  subject: string;
  erase: (subject: string) => Promise<EraseSubjectResponse>;
  onErased?: () => void;
}) {
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState("");
  const [done, setDone] = useState<EraseSubjectResponse | null>(null);
  return (
    <details class="card danger">
      <summary>Erase this customer's data</summary>
      <p>
        Deletes every event, delivery, attempt and trigger execution about <code>{props.subject}</code> in this project, and cancels
        the deliveries still queued. This cannot be undone: export the customer's deliveries first (Logs, filtered by customer) if
        they must be kept. The operational event <code>hookd.subject.erased</code> records the erase with a hash of the subject.
      </p>
      <form
        class="form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (typed !== props.subject || busy) return;
          setBusy(true);
          setErr("");
          try {
            setDone(await props.erase(props.subject));
            setTyped("");
            props.onErased?.();
          } catch (x) {
            setErr(x instanceof Error ? x.message : String(x));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="Type the customer to confirm" hint={`Type ${props.subject} exactly.`}>
          {(id) => <input id={id} value={typed} autocomplete="off" onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />}
        </Field>
        <div class="buttons">
          <button type="submit" class="danger" disabled={typed !== props.subject || busy}>
            {busy ? "Erasing…" : "Erase this customer's data"}
          </button>
        </div>
      </form>
      {err && (
        <p class="notice error" role="alert">
          {err}
        </p>
      )}
      {done && (
        <p class="notice info" role="status">
          Erased {String(done.eventsDeleted)} events, {String(done.deliveriesDeleted)} deliveries ({String(done.deliveriesCancelled)}{" "}
          cancelled first), {String(done.attemptsDeleted)} attempts and {String(done.executionsDeleted)} executions.
        </p>
      )}
    </details>
  );
}
