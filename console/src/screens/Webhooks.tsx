// All webhooks of the project with their health (GetWebhookStats: one cheap call per row).
import { useEffect, useState } from "preact/hooks";
import { DEFAULT_WEBHOOK_METHOD, type Webhook, type WebhookStats } from "@hookd/client";
import { apiError, fmtTime, isUnimplemented, tsDate, useSession } from "../api";
import { Empty, ListState, PageHead, Pager, usePaged } from "../ui";

export function Webhooks() {
  const { client, canWrite } = useSession();
  const p = usePaged(async (pageToken) => {
    const r = await client.webhooks.listWebhooks({ pageToken, pageSize: 50 });
    return { items: r.webhooks, next: r.nextPageToken };
  }, []);
  return (
    <section>
      <PageHead title="Webhooks" sub="Outgoing requests made for the events they are subscribed to.">
        {canWrite && (
          <a class="button primary" href="/webhooks/new">
            Add webhook
          </a>
        )}
      </PageHead>
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title="No webhooks yet">
            {canWrite ? (
              <>
                <a href="/webhooks/new">Add a webhook</a> (or add one under an <a href="/integrations">integration</a>), then{" "}
                <a href="/subscriptions">subscribe</a> it to event types.
              </>
            ) : (
              "A MEMBER or ADMIN key can add one."
            )}
          </Empty>
        }
      >
        {(items) => <WebhookTable webhooks={items} />}
      </ListState>
      <Pager p={p} />
    </section>
  );
}

export function WebhookTable(props: { webhooks: Webhook[] }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Method</th>
            <th>URL</th>
            <th>State</th>
            <th>Last 24 h</th>
          </tr>
        </thead>
        <tbody>
          {props.webhooks.map((w) => (
            <tr key={w.id}>
              <td>
                <a href={`/webhooks/${w.id}`}>{w.name}</a>
                <div class="muted mono small">{w.systemName}</div>
                {w.tenantId && <div class="small">tenant <span class="mono">{w.tenantId}</span></div>}
              </td>
              <td class="mono">{w.method || DEFAULT_WEBHOOK_METHOD}</td>
              <td class="mono url">{w.fullUrl}</td>
              <td>
                {w.enabled ? (
                  <span class="badge s-done">Enabled</span>
                ) : (
                  <span class="badge s-failed" title={w.disabledReason}>
                    Disabled
                  </span>
                )}
              </td>
              <td>
                <StatsCell id={w.id} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Loads GetWebhookStats; "unavailable" while the server does not implement it. */
export function useStats(id: string, gen = 0) {
  const { client } = useSession();
  const [stats, setStats] = useState<WebhookStats | null>(null);
  const [state, setState] = useState<"loading" | "ok" | "unavailable" | "error">("loading");
  const [message, setMessage] = useState("");
  useEffect(() => {
    let live = true;
    client.webhooks.getWebhookStats({ id }).then(
      (r) => {
        if (!live) return;
        setStats(r.stats ?? null);
        setState("ok");
      },
      (e) => {
        if (!live) return;
        setState(isUnimplemented(e) ? "unavailable" : "error");
        setMessage(apiError(e).message);
      },
    );
    return () => {
      live = false;
    };
  }, [id, gen]);
  return { stats, state, message };
}

function StatsCell(props: { id: string }) {
  const { stats, state } = useStats(props.id);
  if (state === "loading") return <span class="muted">…</span>;
  if (state !== "ok" || !stats) return <span class="muted">stats unavailable</span>;
  const total = Number(stats.done + stats.failed);
  return (
    <span>
      {total === 0
        ? stats.attempts > 0n
          ? `no finished deliveries · ${String(stats.failedAttempts)} of ${String(stats.attempts)} attempts failed`
          : "no deliveries"
        : `${Math.round(stats.successRate * 100)}% of ${total} ok`}
      {stats.consecutiveFailures > 0 && <span class="warn-text"> · {stats.consecutiveFailures} failing</span>}
    </span>
  );
}

/** The webhook's health: statistics, disabled reason and time. */
export function HealthPanel(props: { webhook: Webhook; gen: number }) {
  const { stats, state, message } = useStats(props.webhook.id, props.gen);
  const w = props.webhook;
  return (
    <div class="health">
      {!w.enabled && (
        <p>
          <span class="badge s-failed">Disabled</span> {w.disabledReason || "by a person"}
          {w.disableTime && <> · since {fmtTime(w.disableTime)}</>}
        </p>
      )}
      {state === "loading" && <p class="muted">Loading statistics…</p>}
      {state === "unavailable" && <p class="muted">Stats unavailable: this server does not answer GetWebhookStats yet.</p>}
      {state === "error" && <p class="muted">Stats unavailable: {message}</p>}
      {state === "ok" && stats && (
        <dl class="stats">
          <div>
            <dt>Success rate (24 h)</dt>
            <dd>{stats.done + stats.failed > 0n ? `${(stats.successRate * 100).toFixed(1)} %` : "—"}</dd>
          </div>
          <div>
            <dt>Done / failed</dt>
            <dd>
              {String(stats.done)} / {String(stats.failed)}
            </dd>
          </div>
          <div>
            <dt>Queued · retrying · waiting</dt>
            <dd>
              {String(stats.queued)} · {String(stats.retrying)} · {String(stats.waiting)}
            </dd>
          </div>
          <div>
            <dt>Latency p50 / p95 / p99</dt>
            <dd>
              {[stats.latencyP50, stats.latencyP95, stats.latencyP99]
                .map((d) => (d ? `${Math.round(Number(d.seconds) * 1000 + d.nanos / 1e6)} ms` : "—"))
                .join(" / ")}
            </dd>
          </div>
          <div>
            <dt>Failed attempts (24 h)</dt>
            <dd>
              {stats.attempts > 0n
                ? `${String(stats.failedAttempts)} of ${String(stats.attempts)} (${(stats.attemptFailureRate * 100).toFixed(1)} %)`
                : "—"}
            </dd>
          </div>
          <div>
            <dt>Failures in a row: attempts · deliveries</dt>
            <dd>
              {stats.consecutiveFailures} · {w.consecutiveFailures}
              {w.failureThreshold > 0 && ` of ${w.failureThreshold}`}
            </dd>
          </div>
          <div>
            <dt>Last success · failure</dt>
            <dd>
              {tsDate(stats.lastSuccessTime) ? fmtTime(stats.lastSuccessTime) : "never"} ·{" "}
              {tsDate(stats.lastFailureTime) ? fmtTime(stats.lastFailureTime) : "never"}
            </dd>
          </div>
        </dl>
      )}
    </div>
  );
}
