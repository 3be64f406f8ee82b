// A customer (subject) view, like seed 004's per-user Webhooks tab: the events about one subject and every
// delivery sent for them.
import { useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { fmtTime, useSession } from "../api";
import { Empty, Field, ListState, PageHead, Pager, usePaged } from "../ui";
import { DeliveryTable } from "./Logs";

export function CustomerSearch() {
  const { route } = useLocation();
  const [subject, setSubject] = useState("");
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
        <Field label="Customer (subject)" hint="The subject given when publishing, e.g. cus_42.">
          {(id) => <input id={id} type="search" value={subject} onInput={(e) => setSubject((e.target as HTMLInputElement).value)} />}
        </Field>
        <div class="buttons">
          <button type="submit" class="primary">
            Show
          </button>
        </div>
      </form>
    </section>
  );
}

export function CustomerView() {
  const { params } = useRoute();
  const subject = decodeURIComponent(params.subject);
  const { client } = useSession();
  const deliveries = usePaged(async (pageToken) => {
    const r = await client.deliveries.listDeliveries({ pageToken, pageSize: 50, filter: { subject } });
    return { items: r.deliveries, next: r.nextPageToken };
  }, [subject]);
  const events = usePaged(async (pageToken) => {
    const r = await client.events.listEvents({ pageToken, pageSize: 20, subject });
    return { items: r.events, next: r.nextPageToken };
  }, [subject]);
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
                        <details>
                          <summary>show</summary>
                          <pre class="code">{JSON.stringify(e.payload ?? null, null, 2)}</pre>
                        </details>
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
    </section>
  );
}
