// Subscriptions: which event types (or * for all) a webhook receives, optionally only for one subject or only the
// events a CEL filter accepts (checked live against an event type's sample payload).
import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import type { EventType, Subscription, Webhook } from "@hookd/client";
import { useSession } from "../api";
import { Check, Empty, Field, flash, FormError, ListState, PageHead, Pager, TextArea, TextField, useAction, usePaged } from "../ui";
import { FilterCheck, useFilterCheck } from "./FilterCheck";

/**
 * The subscriptions screen, or (embedded, with webhookId) the subscriptions of one webhook on its page; both
 * create, edit (event types, subject, CEL filter), enable and delete.
 */
export function Subscriptions(props: { webhookId?: string; embedded?: boolean }) {
  const { client, canWrite } = useSession();
  const { query } = useRoute();
  const { route } = useLocation();
  const webhookFilter = props.embedded ? (props.webhookId ?? "") : (query.webhook ?? "");
  const [editing, setEditing] = useState<Subscription | null>(null);
  const [webhooks, setWebhooks] = useState<Webhook[]>([]);
  const [eventTypes, setEventTypes] = useState<EventType[]>([]);
  const [creating, setCreating] = useState(false);
  const act = useAction();
  useEffect(() => {
    client.webhooks.listWebhooks({ pageSize: 1000 }).then((r) => setWebhooks(r.webhooks), () => {});
    client.eventTypes.listEventTypes({ pageSize: 1000 }).then((r) => setEventTypes(r.eventTypes), () => {});
  }, []);
  const p = usePaged(async (pageToken) => {
    const r = await client.subscriptions.listSubscriptions({ pageToken, pageSize: 50, webhookId: webhookFilter });
    return { items: r.subscriptions, next: r.nextPageToken };
  }, [webhookFilter]);
  const name = (id: string) => webhooks.find((w) => w.id === id)?.name ?? id;
  return (
    <section>
      <PageHead title={props.embedded ? <span class="h2">Subscriptions</span> : "Subscriptions"} sub={props.embedded ? "The events this webhook receives." : "Each subscription sends the events of some types to one webhook."}>
        {canWrite && !creating && !editing && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Add subscription
          </button>
        )}
      </PageHead>
      {!props.embedded && <div class="filters">
        <Field label="Webhook">
          {(id) => (
            <select id={id} value={webhookFilter} onChange={(e) => route(`/subscriptions${(e.target as HTMLSelectElement).value ? `?webhook=${(e.target as HTMLSelectElement).value}` : ""}`)}>
              <option value="">All webhooks</option>
              {webhooks.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>}
      {(creating || editing) && (
        <NewSubscription
          key={editing?.id ?? "new"}
          webhooks={webhooks}
          eventTypes={eventTypes}
          webhookId={webhookFilter}
          editing={editing}
          onDone={() => {
            setCreating(false);
            setEditing(null);
            p.reload();
          }}
          onCancel={() => {
            setCreating(false);
            setEditing(null);
          }}
        />
      )}
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title="No subscriptions">
            {canWrite
              ? webhooks.length === 0
                ? <>Create a <a href="/webhooks/new">webhook</a> first, then subscribe it to event types here.</>
                : "Add a subscription so that published events create deliveries."
              : "A MEMBER or ADMIN key can add one."}
          </Empty>
        }
      >
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Webhook</th>
                  <th>Event types</th>
                  <th>Subject</th>
                  <th>Filter</th>
                  <th>Enabled</th>
                  {canWrite && <th><span class="sr-only">Actions</span></th>}
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.id}>
                    <td>
                      <a href={`/webhooks/${s.webhookId}`}>{name(s.webhookId)}</a>
                      <div class="muted mono small">{s.id}</div>
                    </td>
                    <td class="mono">{s.eventTypes.join(", ")}</td>
                    <td class="mono">{s.subjectFilter || <span class="muted">any</span>}</td>
                    <td class="mono">{s.filter || <span class="muted">none</span>}</td>
                    <td>
                      <Check
                        label={<span class="sr-only">Enabled</span>}
                        checked={s.enabled}
                        disabled={!canWrite}
                        onChange={(v) =>
                          void act.run(async () => {
                            await client.subscriptions.updateSubscription({ id: s.id, enabled: v });
                            p.reload();
                          })
                        }
                      />
                    </td>
                    {canWrite && (
                      <td>
                        <button type="button" class="small" aria-label={`Edit subscription ${s.id}`} onClick={() => { setCreating(false); setEditing(s); }}>
                          Edit
                        </button>
                        <button
                          type="button"
                          class="small danger"
                          onClick={() =>
                            confirm("Delete this subscription?") &&
                            void act.run(async () => {
                              await client.subscriptions.deleteSubscription({ id: s.id });
                              p.reload();
                            })
                          }
                        >
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </ListState>
      <FormError err={act.err} />
      <Pager p={p} />
    </section>
  );
}

function NewSubscription(props: {
  webhooks: Webhook[];
  eventTypes: EventType[];
  webhookId: string;
  editing?: Subscription | null;
  onDone: () => void;
  onCancel: () => void;
}) {
  const { client } = useSession();
  const ed = props.editing;
  const [webhookId, setWebhookId] = useState(ed?.webhookId || props.webhookId || props.webhooks[0]?.id || "");
  const [types, setTypes] = useState<string[]>(ed?.eventTypes ?? []);
  const [subject, setSubject] = useState(ed?.subjectFilter ?? "");
  const [filter, setFilter] = useState(ed?.filter ?? "");
  // The webhook list arrives after the form may have opened: default to the first one then.
  useEffect(() => {
    if (!webhookId && props.webhooks[0]) setWebhookId(props.webhooks[0].id);
  }, [props.webhooks]);
  const act = useAction();
  const all = types.includes("*");
  // The filter is checked against the sample payload of a chosen event type (the first subscribed one by default).
  const [sampleType, setSampleType] = useState("");
  const candidates = all || types.length === 0 ? props.eventTypes : props.eventTypes.filter((t) => types.includes(t.name));
  const sample = candidates.find((t) => t.name === sampleType) ?? candidates[0];
  const check = useFilterCheck(client, filter, sample?.name ?? "", sample?.samplePayload, subject);
  const toggle = (name: string, on: boolean) => setTypes((t) => (on ? [...t, name] : t.filter((x) => x !== name)));
  return (
    <form
      class="card form"
      aria-label={ed ? "Edit subscription" : "New subscription"}
      onSubmit={(e) => {
        e.preventDefault();
        void act.run(async () => {
          if (ed) {
            await client.subscriptions.updateSubscription({ id: ed.id, eventTypes: { values: types }, subjectFilter: subject, filter });
            flash("Subscription saved.");
          } else {
            await client.subscriptions.createSubscription({ webhookId, eventTypes: types, subjectFilter: subject, filter });
            flash("Subscription created: matching events now make deliveries.");
          }
          props.onDone();
        });
      }}
    >
      <h2>{ed ? "Edit subscription" : "New subscription"}</h2>
      <Field label="Webhook" name="webhook_id" err={act.err}>
        {(id) => (
          <select id={id} value={webhookId} disabled={!!ed} onChange={(e) => setWebhookId((e.target as HTMLSelectElement).value)}>
            {props.webhooks.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <fieldset class="field wide">
        <legend>Event types</legend>
        <Check label={<><code>*</code> all event types</>} checked={all} onChange={(v) => toggle("*", v)} />
        {!all &&
          props.eventTypes.map((t) => (
            <Check key={t.name} label={<code>{t.name}</code>} checked={types.includes(t.name)} onChange={(v) => toggle(t.name, v)} />
          ))}
        {props.eventTypes.length === 0 && (
          <p class="hint">
            No event types yet: <a href="/event-types/new">add one</a> or subscribe to <code>*</code>.
          </p>
        )}
        {act.err?.field?.startsWith("event_types") && (
          <div class="field-error" role="alert">
            {act.err.message}
          </div>
        )}
      </fieldset>
      <TextField label="Only for subject" name="subject_filter" err={act.err} value={subject} onValue={setSubject} placeholder="any subject" hint="Optional: only events about this customer." />
      <TextArea
        label="Filter (CEL)"
        name="filter"
        err={act.err}
        value={filter}
        onValue={setFilter}
        placeholder='data.amount > 100 && subject.startsWith("cus_")'
        hint="Optional: only events for which this is true. Variables: type, subject, tenant_id, data (the payload)."
      />
      {filter.trim() && candidates.length > 0 && (
        <Field label="Check against the sample payload of">
          {(id) => (
            <select id={id} value={sample?.name ?? ""} onChange={(e) => setSampleType((e.target as HTMLSelectElement).value)}>
              {candidates.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      <FilterCheck state={check} eventType={sample?.name ?? ""} />
      <FormError err={act.err} fields={["webhook_id", "event_types", "subject_filter", "filter"]} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={act.busy}>
          {ed ? "Save subscription" : "Create subscription"}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
