// The webhook editor (seed 001's screen): method, URL path with the live full-URL view, inherited headers
// with Use toggles, additional headers, body template with a live preview, retry policy, timeout, async status,
// success codes, failure threshold, signing; for a saved webhook also Test, health, secret, copy and delete.
import { useEffect, useMemo, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import {
  DEFAULT_WEBHOOK_METHOD,
  DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
  invalidArgument,
  MAX_WEBHOOK_TIMEOUT_SECONDS,
  RetryPolicyKind,
  SignatureStyle,
  SigningAlgorithm,
  type EventType,
  type Integration,
  type TestWebhookResponse,
  type Webhook,
  WEBHOOK_METHODS,
} from "@hookd/client";
import { apiError, durMs, fmtDur, fmtTime, fullUrl, MASKED, toDur, useSession, type ApiError } from "../api";
import {
  Check,
  CodeBadge,
  CopyButton,
  Dialog,
  Field,
  FormError,
  HeadersEditor,
  Notice,
  PageHead,
  TextArea,
  TextField,
  useAction,
  type HeaderRow,
  flash,
} from "../ui";
import { BodyPreview, useBodyPreview } from "./BodyPreview";
import { Subscriptions } from "./Subscriptions";
import { HealthPanel } from "./Webhooks";

/** The methods a webhook may send, the default first. */
const METHODS = [DEFAULT_WEBHOOK_METHOD, ...WEBHOOK_METHODS.filter((m) => m !== DEFAULT_WEBHOOK_METHOD)];

const FIELDS = [
  "integration_id", "name", "system_name", "description", "method", "url", "path", "integration_headers", "headers",
  "body_template", "retry_policy", "timeout", "async_status", "async_timeout", "success_status_codes",
  "failure_threshold", "signing_algorithm", "enabled", "send_traceparent", "signature_style", "signature_header",
  "id_header", "timestamp_header",
];

interface Form {
  integrationId: string;
  tenantId: string;
  name: string;
  systemName: string;
  description: string;
  method: string;
  target: "url" | "path";
  url: string;
  path: string;
  use: Record<string, boolean>;
  headers: HeaderRow[];
  bodyTemplate: string;
  retryKind: RetryPolicyKind;
  retryInterval: string;
  maxRetries: string;
  timeout: string;
  asyncStatus: boolean;
  asyncTimeoutHours: string;
  successCodes: string;
  failureThreshold: string;
  signingAlgorithm: SigningAlgorithm;
  signatureStyle: SignatureStyle;
  signatureHeader: string;
  idHeader: string;
  timestampHeader: string;
  sendTraceparent: boolean;
  ordered: boolean;
  enabled: boolean;
}

function emptyForm(integrationId: string): Form {
  return {
    integrationId, tenantId: "", name: "", systemName: "", description: "", method: DEFAULT_WEBHOOK_METHOD, target: integrationId ? "path" : "url",
    url: "", path: "", use: {}, headers: [], bodyTemplate: "", retryKind: RetryPolicyKind.EXPONENTIAL,
    retryInterval: "10", maxRetries: "0", timeout: String(DEFAULT_WEBHOOK_TIMEOUT_SECONDS), asyncStatus: false, asyncTimeoutHours: "24", successCodes: "",
    failureThreshold: "0", signingAlgorithm: SigningAlgorithm.HMAC_SHA256, sendTraceparent: true, ordered: false, enabled: true,
    signatureStyle: SignatureStyle.STANDARD_WEBHOOKS, signatureHeader: "", idHeader: "", timestampHeader: "",
  };
}

function formOf(w: Webhook): Form {
  const rp = w.retryPolicy;
  const use: Record<string, boolean> = {};
  for (const ih of w.integrationHeaders) use[ih.name.toLowerCase()] = ih.use;
  return {
    integrationId: w.integrationId, tenantId: w.tenantId, name: w.name, systemName: w.systemName, description: w.description,
    method: w.method || DEFAULT_WEBHOOK_METHOD, target: w.url || !w.integrationId ? "url" : "path", url: w.url, path: w.path, use,
    headers: w.headers.map((h) => ({ name: h.name, value: h.value, private: h.private })),
    bodyTemplate: w.bodyTemplate, retryKind: rp?.kind || RetryPolicyKind.EXPONENTIAL,
    retryInterval: rp?.interval ? String(durMs(rp.interval) / 1000) : "10", maxRetries: String(rp?.maxRetries ?? 0),
    timeout: w.timeout ? String(durMs(w.timeout) / 1000) : String(DEFAULT_WEBHOOK_TIMEOUT_SECONDS), asyncStatus: w.asyncStatus,
    asyncTimeoutHours: w.asyncTimeout ? String(durMs(w.asyncTimeout) / 3_600_000) : "24",
    successCodes: w.successStatusCodes.join(", "), failureThreshold: String(w.failureThreshold),
    signingAlgorithm: w.signingAlgorithm || SigningAlgorithm.HMAC_SHA256, sendTraceparent: w.sendTraceparent, ordered: w.ordered, enabled: w.enabled,
    signatureStyle: w.signatureStyle || SignatureStyle.STANDARD_WEBHOOKS, signatureHeader: w.signatureHeader, idHeader: w.idHeader,
    timestampHeader: w.timestampHeader,
  };
}

/** "200, 201" → [200, 201]; a bad entry is an error naming the field. */
function parseCodes(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(/[\s,]+/).filter(Boolean)) {
    const n = Number(part);
    if (!Number.isInteger(n) || n < 100 || n > 599) {
      throw invalidArgument("success_status_codes", `${part} is not an HTTP status code`);
    }
    out.push(n);
  }
  return out;
}

function retryPolicy(f: Form) {
  switch (f.retryKind) {
    case RetryPolicyKind.FIXED:
      return { kind: f.retryKind, interval: toDur(Number(f.retryInterval) * 1000), maxRetries: Number(f.maxRetries) || 0 };
    case RetryPolicyKind.EXPONENTIAL:
      return { kind: f.retryKind, maxRetries: Number(f.maxRetries) || 0 };
    default:
      return { kind: f.retryKind };
  }
}

export function WebhookEditor() {
  const { params, query } = useRoute();
  const { route } = useLocation();
  const { client, canWrite, isAdmin } = useSession();
  const isNew = params.id === "new";
  const [webhook, setWebhook] = useState<Webhook | null>(null);
  const [f, setF] = useState<Form>(() => emptyForm(query.integration ?? ""));
  const [integrations, setIntegrations] = useState<Integration[]>([]);
  const [eventTypes, setEventTypes] = useState<EventType[]>([]);
  const [previewType, setPreviewType] = useState("");
  const [loadErr, setLoadErr] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState("");
  const [healthGen, setHealthGen] = useState(0);
  const act = useAction();
  const set = (patch: Partial<Form>) => setF((x) => ({ ...x, ...patch }));

  useEffect(() => {
    client.integrations.listIntegrations({ pageSize: 1000 }).then((r) => setIntegrations(r.integrations), () => {});
    // Preview and Test default to an event type the webhook subscribes to (one with a sample payload first), else
    // to any event type with a sample.
    const subscribed = isNew
      ? Promise.resolve<string[]>([])
      : client.subscriptions.listSubscriptions({ webhookId: params.id, pageSize: 100 }).then(
          (r) => r.subscriptions.filter((x) => x.enabled).flatMap((x) => x.eventTypes),
          () => [] as string[],
        );
    Promise.all([client.eventTypes.listEventTypes({ pageSize: 1000 }), subscribed]).then(
      ([r, subs]) => {
        setEventTypes(r.eventTypes);
        const live = r.eventTypes.filter((e) => !e.operational);
        const mine = subs.includes("*") ? live : live.filter((e) => subs.includes(e.name));
        const first = mine.find((e) => e.samplePayload) ?? mine[0] ?? live.find((e) => e.samplePayload) ?? live[0];
        if (first) setPreviewType((t) => t || first.name);
      },
      () => {},
    );
  }, [params.id]);
  useEffect(() => {
    if (isNew) return;
    client.webhooks.getWebhook({ id: params.id }).then(
      (r) => {
        setWebhook(r.webhook!);
        setF(formOf(r.webhook!));
      },
      (e) => setLoadErr(apiError(e)),
    );
  }, [params.id]);

  const integration = integrations.find((i) => i.id === f.integrationId);
  const shownUrl = fullUrl(f.target === "url" ? f.url : "", f.target === "path" ? f.path : "", integration?.baseUrl);
  const sample = eventTypes.find((e) => e.name === previewType)?.samplePayload;
  const preview = useBodyPreview(client, f.bodyTemplate, previewType, true, sample); // a VIEWER may render too
  const templateErr = useMemo(() => act.err ?? (preview.err?.field === "body_template" ? preview.err : null), [act.err, preview.err]);

  if (loadErr) return <Notice kind="error">{loadErr.message}</Notice>;
  if (!isNew && !webhook) return <p class="muted">Loading…</p>;
  const ro = !canWrite;

  const save = (e: Event) => {
    e.preventDefault();
    setSaved("");
    void act.run(async () => {
      const codes = parseCodes(f.successCodes);
      const integrationHeaders = (integration?.headers ?? []).map((h) => ({ name: h.name, use: f.use[h.name.toLowerCase()] ?? true }));
      const common = {
        name: f.name, systemName: f.systemName, description: f.description, method: f.method,
        bodyTemplate: f.bodyTemplate, retryPolicy: retryPolicy(f), timeout: toDur(Number(f.timeout) * 1000),
        asyncStatus: f.asyncStatus, asyncTimeout: toDur(Number(f.asyncTimeoutHours) * 3_600_000),
        failureThreshold: Number(f.failureThreshold) || 0, signingAlgorithm: f.signingAlgorithm,
        sendTraceparent: f.sendTraceparent, ordered: f.ordered, enabled: f.enabled, signatureStyle: f.signatureStyle,
        signatureHeader: f.signatureHeader.trim(), idHeader: f.idHeader.trim(), timestampHeader: f.timestampHeader.trim(),
      };
      const url = f.target === "url" ? f.url : "";
      const path = f.target === "path" ? f.path : "";
      if (isNew) {
        const r = await client.webhooks.createWebhook({
          ...common, integrationId: f.integrationId, url, path, integrationHeaders, headers: f.headers, successStatusCodes: codes,
          tenantId: f.tenantId.trim(),
        });
        flash(`Webhook "${r.webhook!.name}" created. Subscribe it to event types below so that events reach it.`);
        route(`/webhooks/${r.webhook!.id}`);
      } else {
        const r = await client.webhooks.updateWebhook({
          ...common, id: webhook!.id, integrationId: f.integrationId, url, path,
          integrationHeaders: { values: integrationHeaders }, headers: { values: f.headers },
          successStatusCodes: { values: codes },
          // Moving a webhook to another tenant needs an ADMIN key: sent only when changed.
          tenantId: f.tenantId.trim() !== webhook!.tenantId ? f.tenantId.trim() : undefined,
        });
        setWebhook(r.webhook!);
        setF(formOf(r.webhook!));
        setSaved("Saved.");
      }
    });
  };
  const err = act.err;

  return (
    <section>
      <PageHead
        title={isNew ? "New webhook" : webhook!.name}
        sub={
          <>
            <a href="/webhooks">Webhooks</a>
            {integration && (
              <>
                {" "}· <a href={`/integrations/${integration.id}`}>{integration.name}</a>
              </>
            )}
            {!isNew && <> · <span class="mono">{webhook!.id}</span> · <a href={`/logs?webhook=${webhook!.id}`}>Logs</a> · <a href={`/subscriptions?webhook=${webhook!.id}`}>Subscriptions</a></>}
          </>
        }
      >
        {!isNew && canWrite && <CopyWebhook webhook={webhook!} />}
        {!isNew && canWrite && (
          <button
            type="button"
            class="danger"
            onClick={() =>
              confirm(`Delete webhook "${webhook!.name}" and its subscriptions?`) &&
              void act.run(async () => {
                await client.webhooks.deleteWebhook({ id: webhook!.id });
                route("/webhooks");
              })
            }
          >
            Delete
          </button>
        )}
      </PageHead>

      <div class={`editor-grid${isNew ? " single" : ""}`}>
        <form class="card form" onSubmit={save} aria-label="Webhook settings">
          <h2>General</h2>
          <TextField label="Name" name="name" err={err} value={f.name} onValue={(v) => set({ name: v })} readOnly={ro} hint="Shown in lists and logs." />
          <TextField
            label="System name"
            name="system_name"
            err={err}
            value={f.systemName}
            onValue={(v) => set({ systemName: v })}
            readOnly={ro}
            hint="Unique in the project: letters, digits, _ - ."
          />
          <TextField label="Description" name="description" err={err} value={f.description} onValue={(v) => set({ description: v })} readOnly={ro} wide />
          <TextField
            label="Tenant"
            name="tenant_id"
            err={err}
            value={f.tenantId}
            onValue={(v) => set({ tenantId: v })}
            readOnly={ro || (!isNew && !isAdmin)}
            placeholder="the project's own"
            hint={isNew || isAdmin ? "The customer (tenant) that owns the webhook; empty: the project's own." : "Moving a webhook to another tenant needs an ADMIN key."}
          />
          <Field label="Integration" name="integration_id" err={err}>
            {(id) => (
              <select
                id={id}
                value={f.integrationId}
                disabled={ro}
                onChange={(e) => {
                  const v = (e.target as HTMLSelectElement).value;
                  set({ integrationId: v, target: v ? "path" : "url", use: {} });
                }}
              >
                <option value="">None (standalone)</option>
                {integrations.map((i) => (
                  <option key={i.id} value={i.id}>
                    {i.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Method" name="method" err={err}>
            {(id) => (
              <select id={id} value={f.method} disabled={ro} onChange={(e) => set({ method: (e.target as HTMLSelectElement).value })}>
                {METHODS.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            )}
          </Field>
          {f.integrationId ? (
            <TextField
              label="URL path"
              name="path"
              err={err}
              value={f.path}
              onValue={(v) => set({ path: v, target: "path" })}
              readOnly={ro}
              wide
              placeholder="orders?transactionId={{.TransactionalId}}"
              hint="Appended to the integration's URL; may be left blank. Template variables such as {{.TransactionalId}} work here."
            />
          ) : (
            <TextField
              label="URL"
              name="url"
              err={err}
              value={f.url}
              onValue={(v) => set({ url: v, target: "url" })}
              readOnly={ro}
              wide
              placeholder="https://example.com/hooks"
            />
          )}
          <div class="field wide">
            <span class="label" id="urlview-label">
              URL view
            </span>
            <output class="url-view mono" aria-labelledby="urlview-label" data-testid="url-view">
              <span class="method">{f.method}</span> {shownUrl || <span class="muted">(enter a URL)</span>}
            </output>
            <div class="hint">The full URL that is called, for checking only.</div>
          </div>

          <h2>Headers</h2>
          {integration && (
            <fieldset class="headers">
              <legend>Inherited from {integration.name}</legend>
              {integration.headers.length === 0 && <p class="muted">The integration has no headers.</p>}
              {integration.headers.map((h) => {
                const key = h.name.toLowerCase();
                return (
                  <div class="header-row inherited" key={key}>
                    <span class="mono">{h.name}</span>
                    <span class="mono">{h.private && !isAdmin ? MASKED : h.private ? <Secret value={h.value} /> : h.value}</span>
                    <Check label="Use" checked={f.use[key] ?? true} disabled={ro} onChange={(v) => set({ use: { ...f.use, [key]: v } })} />
                  </div>
                );
              })}
              {errorText(err, "integration_headers")}
            </fieldset>
          )}
          <HeadersEditor label="Additional headers" field="headers" rows={f.headers} onChange={(rows) => set({ headers: rows })} err={err} readOnly={ro} />

          <h2>Request body</h2>
          <div class="body-grid">
            <TextArea
              label="Body template"
              name="body_template"
              err={templateErr}
              value={f.bodyTemplate}
              onValue={(v) => set({ bodyTemplate: v })}
              rows={10}
              readOnly={ro}
              placeholder={'{"email": {{json .Data.email}}, "key": "{{.TransactionalId}}"}'}
              hint={
                <>
                  Go template: <code>{"{{.Data.field}}"}</code>, <code>{"{{json .Data}}"}</code>, <code>{"{{if}}…{{end}}"}</code>,{" "}
                  <code>{"{{range}}…{{end}}"}</code>, <code>{"{{.TransactionalId}}"}</code>, <code>{"{{.Subject}}"}</code>. Empty sends the
                  default envelope.
                </>
              }
            />
            <div>
              <Field label="Preview with event type">
                {(id) => (
                  <select id={id} value={previewType} onChange={(e) => setPreviewType((e.target as HTMLSelectElement).value)}>
                    <option value="">(no sample payload)</option>
                    {eventTypes.map((et) => (
                      <option key={et.name} value={et.name}>
                        {et.name}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <BodyPreview state={preview} template={f.bodyTemplate} eventType={previewType} canRender />
            </div>
          </div>

          <h2>Delivery</h2>
          <Field label="Retry policy" name="retry_policy" err={err} hint={retryHint(f.retryKind)}>
            {(id) => (
              <select id={id} value={f.retryKind} disabled={ro} onChange={(e) => set({ retryKind: Number((e.target as HTMLSelectElement).value) })}>
                <option value={RetryPolicyKind.EXPONENTIAL}>Exponential (5 s + k⁴ s)</option>
                <option value={RetryPolicyKind.FIXED}>Fixed interval</option>
                <option value={RetryPolicyKind.IDEMPOTENT}>Idempotency key (3 × in 6 min on 5xx/429)</option>
                <option value={RetryPolicyKind.NONE}>No retries</option>
              </select>
            )}
          </Field>
          {f.retryKind === RetryPolicyKind.FIXED && (
            <TextField label="Retry every (s)" name="retry_policy.interval" type="number" min={1} err={err} value={f.retryInterval} onValue={(v) => set({ retryInterval: v })} readOnly={ro} />
          )}
          {(f.retryKind === RetryPolicyKind.FIXED || f.retryKind === RetryPolicyKind.EXPONENTIAL) && (
            <TextField
              label="Max retries"
              name="retry_policy.max_retries"
              type="number"
              min={0}
              err={err}
              value={f.maxRetries}
              onValue={(v) => set({ maxRetries: v })}
              readOnly={ro}
              hint={f.retryKind === RetryPolicyKind.FIXED ? "1 to 10." : "0 = the default 15 (about two days)."}
            />
          )}
          <TextField label="Timeout (s)" name="timeout" type="number" min={1} max={MAX_WEBHOOK_TIMEOUT_SECONDS} err={err} value={f.timeout} onValue={(v) => set({ timeout: v })} readOnly={ro} hint={`Per attempt; at most ${MAX_WEBHOOK_TIMEOUT_SECONDS} s.`} />
          <TextField
            label="Success status codes"
            name="success_status_codes"
            err={err}
            value={f.successCodes}
            onValue={(v) => set({ successCodes: v })}
            readOnly={ro}
            placeholder="any 2xx"
            hint="Comma-separated, e.g. 200. Empty = any 2xx."
          />
          <TextField
            label="Failure threshold"
            name="failure_threshold"
            type="number"
            min={0}
            err={err}
            value={f.failureThreshold}
            onValue={(v) => set({ failureThreshold: v })}
            readOnly={ro}
            hint="Disable after this many consecutive failed deliveries; 0 = never."
          />
          <Field label="Signing algorithm" name="signing_algorithm" err={err}>
            {(id) => (
              <select id={id} value={f.signingAlgorithm} disabled={ro} onChange={(e) => set({ signingAlgorithm: Number((e.target as HTMLSelectElement).value) })}>
                <option value={SigningAlgorithm.HMAC_SHA256}>HMAC-SHA256 (v1)</option>
                <option value={SigningAlgorithm.ED25519}>Ed25519 (v1a)</option>
              </select>
            )}
          </Field>
          <fieldset class="field wide" aria-label="Signature headers">
            <legend>Signature (for receivers migrating from another sender)</legend>
            <Field label="Signature style" name="signature_style" err={err}>
              {(id) => (
                <select id={id} value={f.signatureStyle} disabled={ro} onChange={(e) => set({ signatureStyle: Number((e.target as HTMLSelectElement).value) })}>
                  <option value={SignatureStyle.STANDARD_WEBHOOKS}>Standard Webhooks (v1,… of id.timestamp.body)</option>
                  <option value={SignatureStyle.HEX_BODY}>sha256=&lt;hex HMAC of the body&gt; (GitHub)</option>
                </select>
              )}
            </Field>
            <TextField label="Signature header" name="signature_header" err={err} value={f.signatureHeader} onValue={(v) => set({ signatureHeader: v })} readOnly={ro} placeholder="webhook-signature" hint={f.signatureStyle === SignatureStyle.HEX_BODY ? "GitHub sends X-Hub-Signature-256." : "Empty: webhook-signature."} />
            <TextField label="Delivery id header" name="id_header" err={err} value={f.idHeader} onValue={(v) => set({ idHeader: v })} readOnly={ro} placeholder="webhook-id" hint="The same on every retry." />
            <TextField label="Timestamp header" name="timestamp_header" err={err} value={f.timestampHeader} onValue={(v) => set({ timestampHeader: v })} readOnly={ro} placeholder="webhook-timestamp" />
          </fieldset>
          <div class="field wide checks">
            <Check label="Async status (200 done, 202 wait for the callback, else failed)" checked={f.asyncStatus} disabled={ro} onChange={(v) => set({ asyncStatus: v })} />
            {f.asyncStatus && (
              <TextField label="Wait for the callback (hours)" name="async_timeout" type="number" min={1} err={err} value={f.asyncTimeoutHours} onValue={(v) => set({ asyncTimeoutHours: v })} readOnly={ro} />
            )}
            <Check label="Send W3C traceparent" checked={f.sendTraceparent} disabled={ro} onChange={(v) => set({ sendTraceparent: v })} />
            <Check label="Ordered: events with the same ordering key one at a time, in publish order" checked={f.ordered} disabled={ro} onChange={(v) => set({ ordered: v })} />
            <Check label="Enabled" checked={f.enabled} disabled={ro} onChange={(v) => set({ enabled: v })} />
          </div>
          <FormError err={err} fields={FIELDS} />
          {saved && <Notice kind="ok">{saved}</Notice>}
          {canWrite && (
            <div class="buttons">
              <button type="submit" class="primary" disabled={act.busy}>
                {isNew ? "Create webhook" : "Save"}
              </button>
            </div>
          )}
        </form>

        {!isNew && (
          <aside class="side-panels">
            <TestPanel webhook={webhook!} eventTypes={eventTypes} defaultType={previewType} />
            <section class="card">
              <h2>Health</h2>
              <HealthPanel webhook={webhook!} gen={healthGen} />
              {!webhook!.enabled && canWrite && (
                <ReEnable
                  webhook={webhook!}
                  onDone={(w) => {
                    setWebhook(w);
                    setF(formOf(w));
                    setHealthGen((g) => g + 1);
                  }}
                />
              )}
            </section>
            <SecretPanel webhook={webhook!} onChange={(w) => setWebhook(w)} />
          </aside>
        )}
      </div>
      {!isNew && <Subscriptions webhookId={webhook!.id} embedded />}
    </section>
  );
}

function errorText(err: ApiError | null, field: string) {
  const m = err?.field && (err.field === field || err.field.startsWith(field)) ? err.message : "";
  return m ? (
    <div class="field-error" role="alert">
      {m}
    </div>
  ) : null;
}

function retryHint(k: RetryPolicyKind): string {
  switch (k) {
    case RetryPolicyKind.EXPONENTIAL:
      return "After the k-th failure the next attempt is 5 s + k⁴ s later: 6 s, 21 s, 86 s, 261 s, … up to 15 retries.";
    case RetryPolicyKind.FIXED:
      return "The same delay between attempts.";
    case RetryPolicyKind.IDEMPOTENT:
      return "Retries only 5xx and 429, at +1, +3 and +6 minutes; the URL, a header or the body must use {{.TransactionalId}}.";
    case RetryPolicyKind.NONE:
      return "The first failed attempt is final.";
    default:
      return "";
  }
}

/** A secret shown on request. */
function Secret(props: { value: string }) {
  const [shown, setShown] = useState(false);
  return (
    <span class="secret">
      <span class="mono">{shown ? props.value : "••••••••"}</span>{" "}
      <button type="button" class="small" aria-pressed={shown} onClick={() => setShown(!shown)}>
        {shown ? "Hide" : "Show"}
      </button>
    </span>
  );
}

function SecretPanel(props: { webhook: Webhook; onChange: (w: Webhook) => void }) {
  const { client, canWrite, isAdmin } = useSession();
  const act = useAction();
  const w = props.webhook;
  const ed = w.signingAlgorithm === SigningAlgorithm.ED25519;
  return (
    <section class="card">
      <h2>Signing {ed ? "key" : "secret"}</h2>
      {ed && w.publicKey && (
        <p>
          Public key <span class="mono break">{w.publicKey}</span> <CopyButton text={w.publicKey} />
        </p>
      )}
      {isAdmin && w.secret && w.secret !== MASKED ? (
        <p>
          <Secret value={w.secret} /> <CopyButton text={w.secret} label="Copy secret" />
        </p>
      ) : (
        <p class="muted">Only ADMIN keys can read the secret.</p>
      )}
      {tsIsSet(w.previousSecretExpireTime) && <p class="hint">The previous secret also signs until {fmtTime(w.previousSecretExpireTime)}.</p>}
      {canWrite && (
        <button
          type="button"
          disabled={act.busy}
          onClick={() =>
            confirm("Rotate the signing secret? The old one keeps signing for 24 hours.") &&
            void act.run(async () => {
              const r = await client.webhooks.rotateWebhookSecret({ id: w.id });
              props.onChange(r.webhook!);
            })
          }
        >
          Rotate secret
        </button>
      )}
      <FormError err={act.err} />
    </section>
  );
}

const tsIsSet = (t: unknown) => !!t;

function ReEnable(props: { webhook: Webhook; onDone: (w: Webhook) => void }) {
  const { client } = useSession();
  const [replay, setReplay] = useState(true);
  const [done, setDone] = useState("");
  const act = useAction();
  return (
    <div class="re-enable">
      <Check label="Replay the deliveries missed while disabled" checked={replay} onChange={setReplay} />
      <button
        type="button"
        class="primary"
        disabled={act.busy}
        onClick={() =>
          void act.run(async () => {
            const r = await client.webhooks.updateWebhook({ id: props.webhook.id, enabled: true, replayMissed: replay });
            setDone(replay ? `Enabled; ${r.replayed} missed deliveries re-queued.` : "Enabled.");
            props.onDone(r.webhook!);
          })
        }
      >
        Re-enable
      </button>
      {done && <Notice kind="ok">{done}</Notice>}
      <FormError err={act.err} />
    </div>
  );
}

function CopyWebhook(props: { webhook: Webhook }) {
  const { client } = useSession();
  const { route } = useLocation();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(`${props.webhook.name} (copy)`);
  const [systemName, setSystemName] = useState(`${props.webhook.systemName}-copy`);
  const act = useAction();
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Copy webhook
      </button>
      <Dialog open={open} title="Copy webhook" onClose={() => setOpen(false)}>
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            void act.run(async () => {
              const r = await client.webhooks.copyWebhook({ id: props.webhook.id, name, systemName });
              setOpen(false);
              route(`/webhooks/${r.webhook!.id}`);
            });
          }}
        >
          <TextField label="Name" name="name" err={act.err} value={name} onValue={setName} />
          <TextField label="System name" name="system_name" err={act.err} value={systemName} onValue={setSystemName} />
          <FormError err={act.err} fields={["name", "system_name"]} />
          <div class="buttons">
            <button type="submit" class="primary" disabled={act.busy}>
              Copy
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}

function TestPanel(props: { webhook: Webhook; eventTypes: EventType[]; defaultType: string }) {
  const { client, canWrite } = useSession();
  const [eventType, setEventType] = useState("");
  const [res, setRes] = useState<TestWebhookResponse | null>(null);
  const act = useAction();
  const et = eventType || props.defaultType;
  return (
    <section class="card" aria-label="Test">
      <h2>Test</h2>
      <p class="hint">Sends one signed request now with the event type's sample payload. Test sends are not logged or retried.</p>
      <Field label="Event type" name="event_type" err={act.err}>
        {(id) => (
          <select id={id} value={et} onChange={(e) => setEventType((e.target as HTMLSelectElement).value)}>
            {props.eventTypes.filter((t) => !t.operational).map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
            {props.eventTypes.length === 0 && <option value="">(no event types: an empty payload is sent)</option>}
          </select>
        )}
      </Field>
      {canWrite ? (
        <button
          type="button"
          class="primary"
          disabled={act.busy}
          onClick={() =>
            void act.run(async () => {
              setRes(null);
              const r = await client.webhooks.testWebhook(et ? { id: props.webhook.id, eventType: et } : { id: props.webhook.id, payload: {} });
              setRes(r);
            })
          }
        >
          {act.busy ? "Sending…" : "Test"}
        </button>
      ) : (
        <p class="muted">Test sends need a MEMBER or ADMIN key.</p>
      )}
      <FormError err={act.err} fields={["event_type"]} />
      {res && (
        <div class="test-result" data-testid="test-result">
          <p>
            Response <CodeBadge code={res.statusCode} /> <span class="muted">in {fmtDur(durMs(res.duration))}</span>
          </p>
          {res.error && <Notice kind="error">{res.error}</Notice>}
          <details>
            <summary>Response headers ({res.headers.length})</summary>
            <HeaderList headers={res.headers} />
          </details>
          <details open={!!res.body}>
            <summary>Response body</summary>
            <pre class="code">{res.body || "(empty)"}</pre>
          </details>
          <details>
            <summary>Request</summary>
            <p class="mono break">{res.requestUrl}</p>
            <HeaderList headers={res.requestHeaders} />
            <pre class="code">{res.requestBody}</pre>
          </details>
        </div>
      )}
    </section>
  );
}

export function HeaderList(props: { headers: { name: string; value: string }[] }) {
  if (props.headers.length === 0) return <p class="muted">none</p>;
  return (
    <table class="kv">
      <tbody>
        {props.headers.map((h, i) => (
          <tr key={i}>
            <th class="mono">{h.name}</th>
            <td class="mono break">{h.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
