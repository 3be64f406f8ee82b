// Event types: names like user.created, an optional JSON Schema and the sample payload used by test sends and
// the body preview. hookd's operational types (hookd.…) are listed read-only.
import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import type { EventType } from "@hookd/client";
import { apiError, parseJsonObject, useSession, type ApiError } from "../api";
import { Empty, FormError, ListState, Notice, PageHead, Pager, TextArea, TextField, useAction, usePaged, flash } from "../ui";

export function EventTypes() {
  const { client, canWrite } = useSession();
  const p = usePaged(async (pageToken) => {
    const r = await client.eventTypes.listEventTypes({ pageToken, pageSize: 50 });
    return { items: r.eventTypes, next: r.nextPageToken };
  }, []);
  return (
    <section>
      <PageHead title="Event types" sub="What can happen: subscriptions pick event types, publishing names one.">
        {canWrite && (
          <a class="button primary" href="/event-types/new">
            Add event type
          </a>
        )}
      </PageHead>
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title="No event types yet">
            {canWrite ? (
              <>
                <a href="/event-types/new">Add one</a> (e.g. <code>user.created</code>) with a sample payload, so that tests and
                previews have data.
              </>
            ) : (
              "A MEMBER or ADMIN key can add one."
            )}
          </Empty>
        }
      >
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Description</th>
                  <th>Schema</th>
                  <th>Sample</th>
                </tr>
              </thead>
              <tbody>
                {items.map((t) => (
                  <tr key={t.id || t.name}>
                    <td>
                      <a href={`/event-types/${encodeURIComponent(t.name)}`} class="mono">
                        {t.name}
                      </a>
                      {t.operational && <span class="badge">operational</span>}
                    </td>
                    <td>{t.description}</td>
                    <td>{t.schema ? "yes" : <span class="muted">none</span>}</td>
                    <td>{t.samplePayload ? "yes" : <span class="muted">none</span>}</td>
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

const json = (v: unknown) => (v ? JSON.stringify(v, null, 2) : "");

export function EventTypeEditor() {
  const { params } = useRoute();
  const { route } = useLocation();
  const { client, canWrite } = useSession();
  const isNew = params.name === "new";
  const [et, setEt] = useState<EventType | null>(null);
  const [loadErr, setLoadErr] = useState<ApiError | null>(null);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [schema, setSchema] = useState("");
  const [sample, setSample] = useState("");
  const [saved, setSaved] = useState(false);
  const act = useAction();
  useEffect(() => {
    if (isNew) return;
    client.eventTypes.getEventType({ name: decodeURIComponent(params.name) }).then(
      (r) => {
        const t = r.eventType!;
        setEt(t);
        setName(t.name);
        setDescription(t.description);
        setSchema(json(t.schema));
        setSample(json(t.samplePayload));
      },
      (e) => setLoadErr(apiError(e)),
    );
  }, [params.name]);
  if (loadErr) return <Notice kind="error">{loadErr.message}</Notice>;
  if (!isNew && !et) return <p class="muted">Loading…</p>;
  const ro = !canWrite || !!et?.operational;
  return (
    <section>
      <PageHead title={isNew ? "New event type" : <span class="mono">{et!.name}</span>} sub={<a href="/event-types">Event types</a>}>
        {!isNew && !ro && (
          <button
            type="button"
            class="danger"
            onClick={() =>
              confirm(`Delete event type ${et!.name}?`) &&
              void act.run(async () => {
                await client.eventTypes.deleteEventType({ id: et!.id });
                route("/event-types");
              })
            }
          >
            Delete
          </button>
        )}
      </PageHead>
      {et?.operational && <Notice>hookd publishes this operational event type itself; it cannot be changed or deleted.</Notice>}
      <form
        class="card form"
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          void act.run(async () => {
            const s = parseJsonObject(schema, "schema");
            const p = parseJsonObject(sample, "sample_payload");
            if (isNew) {
              await client.eventTypes.createEventType({ name, description, schema: s, samplePayload: p });
              flash(`Event type "${name}" created.`);
              route(`/event-types/${encodeURIComponent(name)}`);
            } else {
              const r = await client.eventTypes.updateEventType({ id: et!.id, description, schema: s ?? {}, samplePayload: p ?? {} });
              setEt(r.eventType!);
              setSaved(true);
            }
          });
        }}
      >
        <TextField
          label="Name"
          name="name"
          err={act.err}
          value={name}
          onValue={setName}
          readOnly={!isNew}
          placeholder="user.created"
          hint="Lowercase words separated by dots; cannot be changed later."
        />
        <TextField label="Description" name="description" err={act.err} value={description} onValue={setDescription} readOnly={ro} wide />
        <TextArea
          label="JSON Schema"
          name="schema"
          err={act.err}
          value={schema}
          onValue={setSchema}
          rows={10}
          readOnly={ro}
          placeholder='{"type": "object", "required": ["id"]}'
          hint="Optional. Published payloads that do not match are refused."
        />
        <TextArea
          label="Sample payload"
          name="sample_payload"
          err={act.err}
          value={sample}
          onValue={setSample}
          rows={10}
          readOnly={ro}
          placeholder='{"id": "u_1", "email": "ada@example.com"}'
          hint="Sent by the Test button and used by the body template preview; must match the schema."
        />
        <FormError err={act.err} fields={["name", "description", "schema", "sample_payload"]} />
        {saved && <Notice kind="ok">Saved.</Notice>}
        {!ro && (
          <div class="buttons">
            <button type="submit" class="primary" disabled={act.busy}>
              {isNew ? "Create event type" : "Save"}
            </button>
          </div>
        )}
      </form>
    </section>
  );
}
