// The tenants' portal (/portal/<session_id>#token=…): a customer manages its own webhook endpoints and reads
// their message log. It talks to hookd only through @hookd/client with the session's portal token, which it reads
// from the URL fragment once (kept in sessionStorage, the fragment cleared).
import { useEffect, useMemo, useState } from "preact/hooks";
import {
  ConnectError,
  createHookdClient,
  DeliveryChange,
  DeliveryStatus,
  portalTokenFromLocation,
  Role,
  type Delivery,
  type EventType,
  type HookdClient,
  type PortalSession,
  type Webhook,
  type WebhookStats,
} from "@hookd/client";

type Tab = "endpoints" | "logs";

function message(err: unknown): string {
  return err instanceof ConnectError ? err.rawMessage : String(err);
}

const statusText: Record<number, string> = {
  [DeliveryStatus.QUEUED]: "Pending",
  [DeliveryStatus.RETRYING]: "Retrying",
  [DeliveryStatus.WAITING]: "Waiting",
  [DeliveryStatus.DONE]: "Succeeded",
  [DeliveryStatus.FAILED]: "Failed",
  [DeliveryStatus.CANCELLED]: "Cancelled",
};

function when(ts?: { seconds: bigint; nanos: number }): string {
  if (!ts) return "";
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)).toLocaleString();
}

export function Portal() {
  const token = useMemo(() => portalTokenFromLocation(), []);
  const client = useMemo(() => (token ? createHookdClient({ baseUrl: location.origin, token }) : null), [token]);
  const [session, setSession] = useState<PortalSession | null>(null);
  const [error, setError] = useState("");
  const [tab, setTab] = useState<Tab>("endpoints");

  useEffect(() => {
    const theme = new URLSearchParams(location.search).get("theme");
    if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
    if (!client) {
      setError("This link has no access token. Open the portal from your account again.");
      return;
    }
    client.portal
      .getCurrentPortalSession({})
      .then((res) => {
        const s = res.session!;
        setSession(s);
        document.title = s.title || "Webhooks";
        if (s.accentColor) document.documentElement.style.setProperty("--accent", s.accentColor);
      })
      .catch((err) => setError("This portal link has expired or was revoked. Open the portal from your account again. (" + message(err) + ")"));
  }, [client]);

  if (error) return <main><p class="error" role="alert">{error}</p></main>;
  if (!session || !client) return <main><p class="muted">Loading…</p></main>;
  const canWrite = session.role === Role.MEMBER;
  return (
    <main>
      <header>
        <h1>{session.title || "Webhooks"}</h1>
        <nav aria-label="Portal">
          <button aria-current={tab === "endpoints" ? "page" : undefined} onClick={() => setTab("endpoints")} data-testid="tab-endpoints">Endpoints</button>
          <button aria-current={tab === "logs" ? "page" : undefined} onClick={() => setTab("logs")} data-testid="tab-logs">Message log</button>
        </nav>
      </header>
      {tab === "endpoints" ? <Endpoints client={client} canWrite={canWrite} /> : <Logs client={client} canWrite={canWrite} />}
    </main>
  );
}

function Endpoints({ client, canWrite }: { client: HookdClient; canWrite: boolean }) {
  const [hooks, setHooks] = useState<Webhook[]>([]);
  const [types, setTypes] = useState<EventType[]>([]);
  const [error, setError] = useState("");
  const load = () =>
    Promise.all([client.webhooks.listWebhooks({ pageSize: 100 }), client.eventTypes.listEventTypes({ pageSize: 100 })])
      .then(([w, t]) => { setHooks(w.webhooks); setTypes(t.eventTypes); })
      .catch((err) => setError(message(err)));
  useEffect(() => { void load(); }, []);
  return (
    <section>
      {error && <p class="error" role="alert">{error}</p>}
      {canWrite && <AddEndpoint client={client} types={types} onAdded={load} />}
      <h2>Your endpoints</h2>
      {hooks.length === 0 && <p class="muted">No endpoints yet.</p>}
      {hooks.map((w) => <Endpoint key={w.id} client={client} hook={w} types={types} canWrite={canWrite} onChange={load} />)}
    </section>
  );
}

function AddEndpoint({ client, types, onAdded }: { client: HookdClient; types: EventType[]; onAdded: () => void }) {
  const [url, setUrl] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const add = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const host = new URL(url).host;
      const res = await client.webhooks.createWebhook({ name: host, url });
      if (chosen.length > 0) await client.subscriptions.createSubscription({ webhookId: res.webhook!.id, eventTypes: chosen });
      setUrl("");
      setChosen([]);
      onAdded();
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={add} data-testid="add-endpoint">
      <h2>Add an endpoint</h2>
      <label>Endpoint URL
        <input type="url" required placeholder="https://example.com/webhooks" value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} data-testid="endpoint-url" />
      </label>
      <div class="types">
        <p class="muted small">Messages to send to this endpoint:</p>
        {types.map((t) => (
          <label key={t.name}>
            <input type="checkbox" checked={chosen.includes(t.name)} data-testid={"type-" + t.name}
              onChange={(e) => setChosen((e.target as HTMLInputElement).checked ? [...chosen, t.name] : chosen.filter((n) => n !== t.name))} />{" "}
            <span class="mono">{t.name}</span> {t.description && <span class="muted">— {t.description}</span>}
            {t.samplePayload && (
              <details><summary class="small muted">Example payload</summary><pre>{JSON.stringify(t.samplePayload, null, 2)}</pre></details>
            )}
          </label>
        ))}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <button class="primary" type="submit" disabled={busy} data-testid="add-endpoint-submit">Add endpoint</button>
    </form>
  );
}

function Endpoint({ client, hook, types, canWrite, onChange }: { client: HookdClient; hook: Webhook; types: EventType[]; canWrite: boolean; onChange: () => void }) {
  const [stats, setStats] = useState<WebhookStats | null>(null);
  const [showSecret, setShowSecret] = useState(false);
  const [testType, setTestType] = useState("");
  const [result, setResult] = useState("");
  const [error, setError] = useState("");
  const [subscribed, setSubscribed] = useState<string[]>([]);
  useEffect(() => {
    client.webhooks.getWebhookStats({ id: hook.id }).then((r) => setStats(r.stats ?? null)).catch(() => {});
    client.subscriptions.listSubscriptions({ webhookId: hook.id }).then((r) => setSubscribed(r.subscriptions.flatMap((s) => s.eventTypes))).catch(() => {});
  }, [hook.id, hook.updateTime]);
  const act = (f: () => Promise<unknown>) => f().then(onChange).catch((err) => setError(message(err)));
  const test = async () => {
    setResult("");
    try {
      const r = await client.webhooks.testWebhook({ id: hook.id, eventType: testType || subscribed[0] || types[0]?.name || "" });
      setResult(r.error ? `Could not reach the endpoint: ${r.error}` : `Your endpoint answered ${r.statusCode}`);
    } catch (err) {
      setResult(message(err));
    }
  };
  const rate = stats && stats.done + stats.failed > 0n ? Math.round(stats.successRate * 100) + "% delivered (24 h)" : "No messages in the last 24 h";
  return (
    <div class="card" data-testid="endpoint">
      <div class="row">
        <div class="grow">
          <div class="mono" data-testid="endpoint-url-text">{hook.url}</div>
          <div class="small muted">
            {hook.enabled ? <span class="ok">Enabled</span> : <span class="bad">Disabled{hook.disabledReason ? ` (${hook.disabledReason})` : ""}</span>}
            {" · "}{rate}{subscribed.length > 0 && <> · Messages: {subscribed.join(", ")}</>}
          </div>
        </div>
        {canWrite && (
          <button onClick={() => act(() => client.webhooks.updateWebhook({ id: hook.id, enabled: !hook.enabled }))} data-testid="toggle">
            {hook.enabled ? "Disable" : "Enable"}
          </button>
        )}
        {canWrite && <button onClick={() => confirm("Delete this endpoint?") && act(() => client.webhooks.deleteWebhook({ id: hook.id }))}>Delete</button>}
      </div>
      <div class="row" style="margin-top:8px">
        <span class="small">Signing secret:</span>
        <code data-testid="secret">{showSecret ? hook.secret || hook.publicKey : "••••••••••••"}</code>
        <button onClick={() => setShowSecret(!showSecret)} data-testid="reveal">{showSecret ? "Hide" : "Show"}</button>
        <button onClick={() => navigator.clipboard?.writeText(hook.secret)}>Copy</button>
        {canWrite && <button onClick={() => confirm("Rotate the secret? The old one keeps signing for 24 hours.") && act(() => client.webhooks.rotateWebhookSecret({ id: hook.id }))} data-testid="rotate">Rotate</button>}
      </div>
      {canWrite && (
        <div class="row" style="margin-top:8px">
          <select value={testType || subscribed[0] || types[0]?.name || ""} onChange={(e) => setTestType((e.target as HTMLSelectElement).value)} aria-label="Test message type">
            {types.map((t) => <option key={t.name} value={t.name}>{t.name}</option>)}
          </select>
          <button onClick={test} data-testid="test">Send test message</button>
          {result && <span class="small" data-testid="test-result">{result}</span>}
        </div>
      )}
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}

function Logs({ client, canWrite }: { client: HookdClient; canWrite: boolean }) {
  const [rows, setRows] = useState<Delivery[]>([]);
  const [selected, setSelected] = useState<Delivery | null>(null);
  const [live, setLive] = useState(false);
  const [error, setError] = useState("");
  const refresh = () => client.deliveries.listDeliveries({ pageSize: 50 }).then((r) => setRows(r.deliveries)).catch((err) => setError(message(err)));
  useEffect(() => {
    void refresh();
    const ctl = new AbortController();
    (async () => {
      try {
        for await (const res of client.deliveries.watchDeliveries({}, { signal: ctl.signal, timeoutMs: 3_600_000 })) {
          setLive(true);
          const d = res.delivery;
          if (!d) continue;
          setRows((old) => {
            const i = old.findIndex((x) => x.id === d.id);
            if (i >= 0) return old.map((x) => (x.id === d.id ? d : x));
            return res.change === DeliveryChange.CREATED ? [d, ...old] : old;
          });
        }
      } catch {
        /* ended: the list stays; reload to resume */
      }
      setLive(false);
    })();
    return () => ctl.abort();
  }, []);
  const open = (d: Delivery) => client.deliveries.getDelivery({ id: d.id }).then((r) => setSelected(r.delivery ?? null)).catch((err) => setError(message(err)));
  const resend = (d: Delivery) =>
    client.deliveries.retryDelivery({ id: d.id }).then((r) => { setSelected(r.delivery ?? null); void refresh(); }).catch((err) => setError(message(err)));
  return (
    <section>
      <div class="row"><h2 class="grow">Messages sent to your endpoints</h2>{live && <span class="live" data-testid="live">● Live</span>}</div>
      {error && <p class="error" role="alert">{error}</p>}
      <table>
        <thead><tr><th>Message</th><th>Endpoint</th><th>Status</th><th>Attempts</th><th>Sent</th></tr></thead>
        <tbody>
          {rows.map((d) => (
            <tr key={d.id} class={"clickable" + (selected?.id === d.id ? " sel" : "")} onClick={() => open(d)} data-testid="log-row">
              <td class="mono">{d.eventType}</td>
              <td>{d.webhookName}</td>
              <td data-testid="log-status">{statusText[d.status] ?? ""}</td>
              <td>{d.attempts}</td>
              <td class="small">{when(d.createTime)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <p class="muted">No messages yet.</p>}
      {selected && (
        <div class="card" data-testid="log-detail" style="margin-top:12px">
          <div class="row">
            <h2 class="grow">{selected.eventType} <span class="badge">{statusText[selected.status]}</span></h2>
            {canWrite && (selected.status === DeliveryStatus.DONE || selected.status === DeliveryStatus.FAILED) && (
              <button class="primary" onClick={() => resend(selected)} data-testid="resend">Resend</button>
            )}
          </div>
          {selected.reason && <p>{selected.reason}</p>}
          {selected.attemptList.map((a) => (
            <details key={a.number} open={a.number === selected.attemptList.length}>
              <summary>Attempt {a.number}: {a.error ? <span class="bad">{a.error}</span> : <span class={a.responseStatusCode < 300 ? "ok" : "bad"}>HTTP {a.responseStatusCode}</span>} <span class="muted small">{when(a.startTime)}</span></summary>
              <p class="small muted">Request body</p><pre>{a.requestBody}</pre>
              <p class="small muted">Response</p><pre>{a.responseBody}</pre>
            </details>
          ))}
          {selected.attemptList.length === 0 && <p class="muted">Not attempted yet.</p>}
        </div>
      )}
    </section>
  );
}
