// Inbound triggers (seed 003): a URL to copy, what a call is published as, and the recent executions with
// their payload.
import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import type { EventType, Execution, Trigger } from "@hookd/client";
import { apiError, fmtTime, MASKED, useSession, type ApiError } from "../api";
import { Check, CodeBadge, CopyButton, Empty, Field, FormError, ListState, Notice, PageHead, Pager, TextField, pretty, useAction, usePaged } from "../ui";
import { HeaderList } from "./WebhookEditor";

export function Triggers() {
  const { client, canWrite } = useSession();
  const p = usePaged(async (pageToken) => {
    const r = await client.triggers.listTriggers({ pageToken, pageSize: 50 });
    return { items: r.triggers, next: r.nextPageToken };
  }, []);
  return (
    <section>
      <PageHead title="Triggers" sub="Inbound URLs: every request another system sends is recorded and published as an event.">
        {canWrite && (
          <a class="button primary" href="/triggers/new">
            Add trigger
          </a>
        )}
      </PageHead>
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title="No triggers yet">
            {canWrite ? <><a href="/triggers/new">Add a trigger</a>, then give its URL to the system that should call hookd.</> : "A MEMBER or ADMIN key can add one."}
          </Empty>
        }
      >
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>URL</th>
                  <th>Event type</th>
                  <th>State</th>
                </tr>
              </thead>
              <tbody>
                {items.map((t) => (
                  <tr key={t.id}>
                    <td>
                      <a href={`/triggers/${t.id}`}>{t.name}</a>
                    </td>
                    <td class="mono url">
                      {t.url} <CopyButton text={t.url} />
                    </td>
                    <td class="mono">{t.eventType || <span class="muted">by route</span>}</td>
                    <td>{t.enabled ? <span class="badge s-done">Enabled</span> : <span class="badge s-failed">Disabled</span>}</td>
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

const FIELDS = ["name", "event_type", "api_key_header", "api_key", "sync", "rate_limit_per_second", "subject", "enabled"];

export function TriggerEditor() {
  const { params } = useRoute();
  const { route } = useLocation();
  const { client, canWrite, isAdmin } = useSession();
  const isNew = params.id === "new";
  const [t, setT] = useState<Trigger | null>(null);
  const [loadErr, setLoadErr] = useState<ApiError | null>(null);
  const [eventTypes, setEventTypes] = useState<EventType[]>([]);
  const [name, setName] = useState("");
  const [eventType, setEventType] = useState("");
  const [keyHeader, setKeyHeader] = useState("");
  const [sync, setSync] = useState(false);
  const [rate, setRate] = useState("50");
  const [subjectHeader, setSubjectHeader] = useState("");
  const [subjectField, setSubjectField] = useState("");
  const [enabled, setEnabled] = useState(true);
  const [saved, setSaved] = useState(false);
  const act = useAction();
  const load = (tr: Trigger) => {
    setT(tr);
    setName(tr.name);
    setEventType(tr.eventType);
    setKeyHeader(tr.apiKeyHeader);
    setSync(tr.sync);
    setRate(String(tr.rateLimitPerSecond));
    setSubjectHeader(tr.subject?.header ?? "");
    setSubjectField(tr.subject?.jsonField ?? "");
    setEnabled(tr.enabled);
  };
  useEffect(() => {
    client.eventTypes.listEventTypes({ pageSize: 1000 }).then(
      (r) => {
        setEventTypes(r.eventTypes);
        if (isNew) setEventType((v) => v || r.eventTypes.find((e) => !e.operational)?.name || "");
      },
      () => {},
    );
    if (!isNew) client.triggers.getTrigger({ id: params.id }).then((r) => load(r.trigger!), (e) => setLoadErr(apiError(e)));
  }, [params.id]);
  if (loadErr) return <Notice kind="error">{loadErr.message}</Notice>;
  if (!isNew && !t) return <p class="muted">Loading…</p>;
  const ro = !canWrite;
  const subject = subjectHeader || subjectField ? { header: subjectHeader, jsonField: subjectField } : {};
  return (
    <section>
      <PageHead title={isNew ? "New trigger" : t!.name} sub={<a href="/triggers">Triggers</a>}>
        {!isNew && canWrite && (
          <button
            type="button"
            class="danger"
            onClick={() =>
              confirm(`Delete trigger "${t!.name}"? Its URL answers 404 from then on.`) &&
              void act.run(async () => {
                await client.triggers.deleteTrigger({ id: t!.id });
                route("/triggers");
              })
            }
          >
            Delete
          </button>
        )}
      </PageHead>
      {t && (
        <div class="card trigger-url">
          <span class="label">URL</span> <span class="mono break">{t.url}</span> <CopyButton text={t.url} label="Copy URL" />
          <p class="hint">
            Accepts GET, POST, PUT, PATCH and DELETE; anything after the URL is the <code>pathFragment</code>.
            {t.apiKeyHeader && (
              <>
                {" "}Callers must send <code>{t.apiKeyHeader}</code>
                {isAdmin && t.apiKey && t.apiKey !== MASKED ? <>: <span class="mono">{t.apiKey}</span> <CopyButton text={t.apiKey} /></> : " (the key is shown to ADMIN keys)"}.
              </>
            )}
          </p>
        </div>
      )}
      <form
        class="card form"
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          void act.run(async () => {
            const rateLimitPerSecond = Number(rate) || 0;
            if (isNew) {
              const r = await client.triggers.createTrigger({ name, eventType, apiKeyHeader: keyHeader, sync, rateLimitPerSecond, subject, enabled });
              route(`/triggers/${r.trigger!.id}`);
            } else {
              const r = await client.triggers.updateTrigger({ id: t!.id, name, eventType, apiKeyHeader: keyHeader, sync, rateLimitPerSecond, subject, enabled });
              load(r.trigger!);
              setSaved(true);
            }
          });
        }}
      >
        <TextField label="Name" name="name" err={act.err} value={name} onValue={setName} readOnly={ro} />
        <Field label="Publish as event type" name="event_type" err={act.err}>
          {(id) => (
            <select id={id} value={eventType} disabled={ro} onChange={(e) => setEventType((e.target as HTMLSelectElement).value)}>
              {eventTypes.filter((e) => !e.operational).map((e) => (
                <option key={e.name} value={e.name}>
                  {e.name}
                </option>
              ))}
              {eventTypes.length === 0 && <option value="">(add an event type first)</option>}
            </select>
          )}
        </Field>
        <TextField label="Require a key in header" name="api_key_header" err={act.err} value={keyHeader} onValue={setKeyHeader} readOnly={ro} placeholder="X-Trigger-Key (optional)" hint="A key is generated when set." />
        <TextField label="Requests per second" name="rate_limit_per_second" type="number" min={1} err={act.err} value={rate} onValue={setRate} readOnly={ro} />
        <TextField label="Customer from header" name="subject.header" err={act.err} value={subjectHeader} onValue={setSubjectHeader} readOnly={ro} placeholder="X-Customer-Id" />
        <TextField label="…or from JSON field" name="subject.json_field" err={act.err} value={subjectField} onValue={setSubjectField} readOnly={ro} placeholder="customer.id" />
        <div class="field wide checks">
          <Check label="Sync (wait for deliveries, answer 303 to the result)" checked={sync} disabled={ro} onChange={setSync} />
          <Check label="Enabled" checked={enabled} disabled={ro} onChange={setEnabled} />
        </div>
        <FormError err={act.err} fields={FIELDS} />
        {saved && <Notice kind="ok">Saved.</Notice>}
        {canWrite && (
          <div class="buttons">
            <button type="submit" class="primary" disabled={act.busy}>
              {isNew ? "Create trigger" : "Save"}
            </button>
          </div>
        )}
      </form>
      {t && <Executions trigger={t} />}
    </section>
  );
}

function Executions(props: { trigger: Trigger }) {
  const { client } = useSession();
  const p = usePaged(async (pageToken) => {
    const r = await client.triggers.listExecutions({ pageToken, pageSize: 25, triggerId: props.trigger.id });
    return { items: r.executions, next: r.nextPageToken };
  }, [props.trigger.id]);
  return (
    <section>
      <PageHead title={<span class="h2">Recent executions</span>}>
        <button type="button" class="small" onClick={p.reload}>
          Refresh
        </button>
      </PageHead>
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title="No requests received yet">
            Call the URL, e.g. <code>curl -X POST {props.trigger.url} -H 'content-type: application/json' -d '{"{"}"hello":"world"{"}"}'</code>
          </Empty>
        }
      >
        {(items) => <ExecutionTable executions={items} triggerId={props.trigger.id} />}
      </ListState>
      <Pager p={p} />
    </section>
  );
}

function ExecutionTable(props: { executions: Execution[]; triggerId: string }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Received</th>
            <th>Request</th>
            <th>Answer</th>
            <th>Event</th>
            <th>Customer</th>
          </tr>
        </thead>
        <tbody>
          {props.executions.map((x) => (
            <tr key={x.id}>
              <td>
                <a href={`/triggers/${props.triggerId}/executions/${x.id}`}>{fmtTime(x.receiveTime)}</a>
              </td>
              <td class="mono">
                {x.method} {x.pathFragment || "/"}
              </td>
              <td>
                <CodeBadge code={x.status} />
              </td>
              <td class="mono small">{x.eventId ? `${x.eventType} · ${x.eventId}` : "—"}</td>
              <td>{x.subject || <span class="muted">—</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ExecutionDetail() {
  const { params } = useRoute();
  const { client } = useSession();
  const [x, setX] = useState<Execution | null>(null);
  const [err, setErr] = useState<ApiError | null>(null);
  useEffect(() => {
    client.triggers.getExecution({ id: params.eid }).then((r) => setX(r.execution!), (e) => setErr(apiError(e)));
  }, [params.eid]);
  if (err) return <Notice kind="error">{err.message}</Notice>;
  if (!x) return <p class="muted">Loading…</p>;
  return (
    <section>
      <PageHead title={<>Execution <span class="mono">{x.id}</span></>} sub={<><a href="/triggers">Triggers</a> · <a href={`/triggers/${params.id}`}>trigger</a></>} />
      <dl class="facts card">
        <div>
          <dt>Received</dt>
          <dd>{fmtTime(x.receiveTime)}</dd>
        </div>
        <div>
          <dt>Request</dt>
          <dd class="mono">
            {x.method} {x.pathFragment || "/"}
          </dd>
        </div>
        <div>
          <dt>Answer</dt>
          <dd>
            <CodeBadge code={x.status} />
          </dd>
        </div>
        <div>
          <dt>Published</dt>
          <dd class="mono">{x.eventId ? `${x.eventType} ${x.eventId}` : "—"}</dd>
        </div>
        <div>
          <dt>Customer</dt>
          <dd>{x.subject ? <a href={`/customers/${encodeURIComponent(x.subject)}`}>{x.subject}</a> : "—"}</dd>
        </div>
      </dl>
      <h2>Headers</h2>
      <HeaderList headers={x.headers} />
      {x.queryParameters.length > 0 && (
        <>
          <h2>Query parameters</h2>
          <HeaderList headers={x.queryParameters} />
        </>
      )}
      <h2>Payload</h2>
      <pre class="code">{x.body !== undefined ? JSON.stringify(x.body, null, 2) : pretty(x.rawBody)}</pre>
      {x.bodyTruncated && <p class="hint">Only a prefix of the body was kept.</p>}
      <details>
        <summary>Raw body{x.rawBodyBase64 ? " (base64)" : ""}</summary>
        <pre class="code">{x.rawBody || "(empty)"}</pre>
      </details>
    </section>
  );
}
