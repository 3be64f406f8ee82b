// Inbound triggers (seed 003): a URL to copy, what a call is published as, and the recent executions with
// their payload.
import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { SignatureScheme, type EventType, type Execution, type Trigger } from "@hookd/client";
import { apiError, durMs, fmtTime, MASKED, toDur, useSession, type ApiError } from "../api";
import { Check, CodeBadge, CopyButton, Empty, Field, flash, FormError, ListState, Notice, PageHead, Pager, TextArea, TextField, pretty, useAction, usePaged } from "../ui";
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
                  <th>Answers</th>
                  <th>Checks</th>
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
                    <td class="mono">
                      {t.eventType || <span class="muted">by route</span>}
                      {t.routes.length > 0 && <div class="muted small">{t.routes.length} route{t.routes.length > 1 ? "s" : ""}</div>}
                    </td>
                    <td class="mono small">{answerSummary(t)}</td>
                    <td class="small">{checkSummary(t) || <span class="muted">—</span>}</td>
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

const FIELDS = [
  "name", "event_type", "api_key_header", "api_key", "sync", "rate_limit_per_second", "subject", "enabled", "response", "routes",
  "signature", "max_body_bytes", "drop_headers", "drop_query_parameters",
];

const SCHEMES: [SignatureScheme, string][] = [
  [SignatureScheme.UNSPECIFIED, "None"],
  [SignatureScheme.STANDARD_WEBHOOKS, "Standard Webhooks (webhook-signature, whsec_ secret)"],
  [SignatureScheme.HMAC_SHA256, "HMAC-SHA256 of the body in a header"],
  [SignatureScheme.HMAC_SHA256_TIMESTAMPED, "Timestamped HMAC-SHA256 (t=…,v1=…, Stripe style)"],
];

/** What a caller gets back: the custom response or the default, e.g. "201 thanks" or "200 (default JSON)". */
export function answerSummary(t: Trigger): string {
  if (t.sync) return "303 to the result (sync)";
  const r = t.response;
  if (!r || (!r.status && !r.body && !r.contentType)) return "200 (default)";
  const body = r.body.length > 24 ? r.body.slice(0, 24) + "…" : r.body;
  return `${r.status || 200} ${body}`.trim();
}

/** The checks a request must pass, e.g. "key header · HMAC-SHA256 · ≤ 64 KiB". */
export function checkSummary(t: Trigger): string {
  const parts: string[] = [];
  if (t.apiKeyHeader) parts.push(`key in ${t.apiKeyHeader}`);
  const sc = t.signature?.scheme ?? SignatureScheme.UNSPECIFIED;
  if (sc !== SignatureScheme.UNSPECIFIED) parts.push((SCHEMES.find(([v]) => v === sc)?.[1] ?? "signature").split(" (")[0]);
  if (t.maxBodyBytes) parts.push(`body ≤ ${t.maxBodyBytes} B`);
  if (t.dropHeaders.length || t.dropQueryParameters.length) parts.push("drops " + [...t.dropHeaders, ...t.dropQueryParameters.map((q) => "?" + q)].join(", "));
  return parts.join(" · ");
}

const list = (v: string) => v.split(",").map((x) => x.trim()).filter(Boolean);

interface RouteRow {
  by: "header" | "json";
  key: string;
  value: string;
  eventType: string;
}

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
  const [respStatus, setRespStatus] = useState("");
  const [respType, setRespType] = useState("");
  const [respBody, setRespBody] = useState("");
  const [routes, setRoutes] = useState<RouteRow[]>([]);
  const [scheme, setScheme] = useState<SignatureScheme>(SignatureScheme.UNSPECIFIED);
  const [sigSecret, setSigSecret] = useState("");
  const [sigHeader, setSigHeader] = useState("");
  const [sigPrefix, setSigPrefix] = useState("");
  const [sigTolerance, setSigTolerance] = useState("");
  const [sigTarget, setSigTarget] = useState(false);
  const [sigDirty, setSigDirty] = useState(false);
  const [maxBody, setMaxBody] = useState("");
  const [dropHeaders, setDropHeaders] = useState("");
  const [dropQuery, setDropQuery] = useState("");
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
    setRespStatus(tr.response?.status ? String(tr.response.status) : "");
    setRespType(tr.response?.contentType ?? "");
    setRespBody(tr.response?.body ?? "");
    setRoutes(tr.routes.map((r) => ({ by: r.jsonField ? "json" : "header", key: r.jsonField || r.header, value: r.value, eventType: r.eventType })));
    setScheme(tr.signature?.scheme ?? SignatureScheme.UNSPECIFIED);
    setSigSecret(tr.signature?.secret ?? "");
    setSigHeader(tr.signature?.header ?? "");
    setSigPrefix(tr.signature?.prefix ?? "");
    setSigTolerance(tr.signature?.timestampTolerance ? String(durMs(tr.signature.timestampTolerance) / 1000) : "");
    setSigTarget(tr.signature?.signRequestTarget ?? false);
    setSigDirty(false);
    setMaxBody(tr.maxBodyBytes ? String(tr.maxBodyBytes) : "");
    setDropHeaders(tr.dropHeaders.join(", "));
    setDropQuery(tr.dropQueryParameters.join(", "));
  };
  const sig = (f: () => void) => {
    f();
    setSigDirty(true);
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
  const response = { status: Number(respStatus) || 0, contentType: respType, body: respBody };
  const routeMsgs = routes.map((r) => ({ header: r.by === "header" ? r.key : "", jsonField: r.by === "json" ? r.key : "", value: r.value, eventType: r.eventType }));
  const signature = {
    scheme,
    secret: sigSecret,
    header: sigHeader,
    prefix: sigPrefix,
    timestampTolerance: sigTolerance ? toDur(Number(sigTolerance) * 1000) : undefined,
    signRequestTarget: sigTarget,
  };
  const setRoute = (i: number, patch: Partial<RouteRow>) => setRoutes(routes.map((r, j) => (j === i ? { ...r, ...patch } : r)));
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
              const r = await client.triggers.createTrigger({
                name, eventType, apiKeyHeader: keyHeader, sync, rateLimitPerSecond, subject, enabled, response, routes: routeMsgs,
                signature: scheme === SignatureScheme.UNSPECIFIED ? undefined : signature, maxBodyBytes: BigInt(Number(maxBody) || 0),
                dropHeaders: list(dropHeaders), dropQueryParameters: list(dropQuery),
              });
              flash(`Trigger "${r.trigger!.name}" created. Give its URL to the sender.`);
              route(`/triggers/${r.trigger!.id}`);
            } else {
              const r = await client.triggers.updateTrigger({
                id: t!.id, name, eventType, apiKeyHeader: keyHeader, sync, rateLimitPerSecond, subject, enabled, response,
                routes: { values: routeMsgs }, signature: sigDirty ? signature : undefined, maxBodyBytes: BigInt(Number(maxBody) || 0),
                dropHeaders: { values: list(dropHeaders) }, dropQueryParameters: { values: list(dropQuery) },
              });
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
        <fieldset class="wide group" aria-label="Response">
          <legend>Response to the caller</legend>
          <p class="hint">Empty: 200 with hookd's JSON (the event and execution ids). Sync triggers answer 303 instead.</p>
          <TextField label="Status" name="response.status" type="number" min={200} max={299} err={act.err} value={respStatus} onValue={setRespStatus} readOnly={ro} placeholder="200" />
          <TextField label="Content type" name="response.content_type" err={act.err} value={respType} onValue={setRespType} readOnly={ro} placeholder="application/json" />
          <TextArea label="Body" name="response.body" err={act.err} value={respBody} onValue={setRespBody} readOnly={ro} rows={3} />
        </fieldset>
        <fieldset class="wide group" aria-label="Routes">
          <legend>Routes</legend>
          <p class="hint">A shared trigger picks the event type by a header or JSON field value; the first matching route wins, else the event type above.</p>
          {routes.map((r, i) => (
            <div class="route-row" key={i}>
              <select aria-label={`Route ${i + 1} compares`} value={r.by} disabled={ro} onChange={(e) => setRoute(i, { by: (e.target as HTMLSelectElement).value as RouteRow["by"] })}>
                <option value="header">header</option>
                <option value="json">JSON field</option>
              </select>
              <input aria-label={`Route ${i + 1} ${r.by === "json" ? "JSON field" : "header"}`} value={r.key} readOnly={ro} placeholder={r.by === "json" ? "type" : "X-Event"} onInput={(e) => setRoute(i, { key: (e.target as HTMLInputElement).value })} />
              <span>=</span>
              <input aria-label={`Route ${i + 1} value`} value={r.value} readOnly={ro} placeholder="order.paid" onInput={(e) => setRoute(i, { value: (e.target as HTMLInputElement).value })} />
              <span>→</span>
              <select aria-label={`Route ${i + 1} event type`} value={r.eventType} disabled={ro} onChange={(e) => setRoute(i, { eventType: (e.target as HTMLSelectElement).value })}>
                <option value="">(choose)</option>
                {eventTypes.filter((e) => !e.operational).map((e) => (
                  <option key={e.name} value={e.name}>
                    {e.name}
                  </option>
                ))}
              </select>
              {!ro && (
                <button type="button" class="small" onClick={() => setRoutes(routes.filter((_, j) => j !== i))}>
                  Remove
                </button>
              )}
            </div>
          ))}
          {!ro && (
            <button type="button" class="small" onClick={() => setRoutes([...routes, { by: "header", key: "", value: "", eventType: "" }])}>
              Add route
            </button>
          )}
        </fieldset>
        <fieldset class="wide group" aria-label="Signature">
          <legend>Signature check</legend>
          <Field label="Scheme" name="signature.scheme" err={act.err}>
            {(id) => (
              <select id={id} value={scheme} disabled={ro} onChange={(e) => sig(() => setScheme(Number((e.target as HTMLSelectElement).value)))}>
                {SCHEMES.map(([v, l]) => (
                  <option key={v} value={v}>
                    {l}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {scheme !== SignatureScheme.UNSPECIFIED && (
            <>
              <TextField label="Secret" name="signature.secret" err={act.err} value={sigSecret} onValue={(v) => sig(() => setSigSecret(v))} readOnly={ro} hint={sigSecret === MASKED ? "Shown to ADMIN keys only; leave as is to keep it." : undefined} />
              {scheme !== SignatureScheme.STANDARD_WEBHOOKS && (
                <TextField label="Header" name="signature.header" err={act.err} value={sigHeader} onValue={(v) => sig(() => setSigHeader(v))} readOnly={ro} placeholder={scheme === SignatureScheme.HMAC_SHA256 ? "X-Hub-Signature-256" : "Stripe-Signature"} />
              )}
              {scheme === SignatureScheme.HMAC_SHA256 && (
                <TextField label="Prefix" name="signature.prefix" err={act.err} value={sigPrefix} onValue={(v) => sig(() => setSigPrefix(v))} readOnly={ro} placeholder="sha256=" />
              )}
              {scheme !== SignatureScheme.HMAC_SHA256 && (
                <TextField label="Timestamp tolerance (seconds)" name="signature.timestamp_tolerance" type="number" min={1} max={3600} err={act.err} value={sigTolerance} onValue={(v) => sig(() => setSigTolerance(v))} readOnly={ro} placeholder="300" />
              )}
              {scheme === SignatureScheme.HMAC_SHA256_TIMESTAMPED && (
                <div class="field wide checks">
                  <Check label="Also sign the method, path and query (sign_request_target)" checked={sigTarget} disabled={ro} onChange={(v) => sig(() => setSigTarget(v))} />
                </div>
              )}
            </>
          )}
        </fieldset>
        <fieldset class="wide group" aria-label="Limits and privacy">
          <legend>Body limit and dropped values</legend>
          <TextField label="Max body bytes" name="max_body_bytes" type="number" min={0} err={act.err} value={maxBody} onValue={setMaxBody} readOnly={ro} placeholder="server default" />
          <TextField label="Drop headers" name="drop_headers" err={act.err} value={dropHeaders} onValue={setDropHeaders} readOnly={ro} placeholder="X-Internal, Cookie" hint="Comma-separated; removed from the recorded execution and the event payload." />
          <TextField label="Drop query parameters" name="drop_query_parameters" err={act.err} value={dropQuery} onValue={setDropQuery} readOnly={ro} placeholder="token" hint="Comma-separated." />
        </fieldset>
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
