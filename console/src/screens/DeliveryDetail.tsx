// One delivery with every attempt (request and response), resend and cancel.
import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { DeliveryStatus, type Delivery } from "@hookd/client";
import { apiError, durMs, fmtDur, fmtTime, useSession, type ApiError } from "../api";
import { CodeBadge, FormError, Notice, PageHead, StatusBadge, pretty, useAction } from "../ui";
import { HeaderList } from "./WebhookEditor";

const RESENDABLE = [DeliveryStatus.FAILED, DeliveryStatus.DONE];
const CANCELLABLE = [DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.WAITING];

export function DeliveryDetail() {
  const { params } = useRoute();
  const { client, canWrite } = useSession();
  const [d, setD] = useState<Delivery | null>(null);
  const [loadErr, setLoadErr] = useState<ApiError | null>(null);
  const [gen, setGen] = useState(0);
  const [msg, setMsg] = useState("");
  const act = useAction();
  useEffect(() => {
    client.deliveries.getDelivery({ id: params.id }).then(
      (r) => setD(r.delivery!),
      (e) => setLoadErr(apiError(e)),
    );
  }, [params.id, gen]);
  // While the delivery is still moving, refresh it every 2 s.
  useEffect(() => {
    if (!d || !CANCELLABLE.includes(d.status)) return;
    const t = setTimeout(() => setGen((g) => g + 1), 2000);
    return () => clearTimeout(t);
  }, [d]);
  if (loadErr) return <Notice kind="error">{loadErr.message}</Notice>;
  if (!d) return <p class="muted">Loading…</p>;
  return (
    <section>
      <PageHead
        title={
          <>
            Delivery <span class="mono">{d.id}</span>
          </>
        }
        sub={
          <>
            <a href="/logs">Logs</a> · event <a class="mono" href={`/events/${d.eventId}`}>{d.eventId}</a> ·{" "}
            <a href={`/logs?webhook=${d.webhookId}`}>{d.webhookName || d.webhookId}</a>
            {d.integrationName && <> · {d.integrationName}</>}
          </>
        }
      >
        {canWrite && RESENDABLE.includes(d.status) && (
          <button
            type="button"
            class="primary"
            disabled={act.busy}
            onClick={() =>
              void act.run(async () => {
                const r = await client.deliveries.retryDelivery({ id: d.id });
                setD({ ...d, ...r.delivery!, attemptList: d.attemptList });
                setMsg("Queued for resending (same webhook-id).");
                setGen((g) => g + 1);
              })
            }
          >
            Resend
          </button>
        )}
        {canWrite && CANCELLABLE.includes(d.status) && (
          <button
            type="button"
            class="danger"
            disabled={act.busy}
            onClick={() =>
              void act.run(async () => {
                await client.deliveries.cancelDelivery({ id: d.id });
                setGen((g) => g + 1);
              })
            }
          >
            Cancel
          </button>
        )}
      </PageHead>
      {msg && <Notice kind="ok">{msg}</Notice>}
      <FormError err={act.err} />
      <dl class="facts card">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={d.status} /> {d.resent && <span class="muted">resent</span>}
          </dd>
        </div>
        <div>
          <dt>Event type</dt>
          <dd class="mono">{d.eventType}</dd>
        </div>
        <div>
          <dt>Customer</dt>
          <dd>{d.subject ? <a href={`/customers/${encodeURIComponent(d.subject)}`}>{d.subject}</a> : "—"}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{fmtTime(d.createTime)}</dd>
        </div>
        <div>
          <dt>Attempts</dt>
          <dd>
            {d.attempts} ({d.retries} {d.retries === 1 ? "retry" : "retries"})
          </dd>
        </div>
        <div>
          <dt>Next attempt</dt>
          <dd>{CANCELLABLE.includes(d.status) ? fmtTime(d.nextAttemptTime) : "—"}</dd>
        </div>
        <div>
          <dt>Last response</dt>
          <dd>
            <CodeBadge code={d.lastStatusCode} />
          </dd>
        </div>
        {d.orderingKey && (
          <div>
            <dt>Ordering key</dt>
            <dd class="mono">{d.orderingKey}</dd>
          </div>
        )}
        {d.blockedBy && (
          <div class="wide">
            <dt>Waits for</dt>
            <dd>
              <a class="mono" href={`/logs/${d.blockedBy}`}>
                {d.blockedBy}
              </a>{" "}
              <span class="muted">(the delivery before it with the same ordering key; this one goes once that one is done, failed or cancelled)</span>
            </dd>
          </div>
        )}
        {d.reason && (
          <div class="wide">
            <dt>Reason</dt>
            <dd>{d.reason}</dd>
          </div>
        )}
      </dl>
      <h2>Attempts</h2>
      {d.attemptList.length === 0 && <p class="muted">No attempt yet: the first one is due {fmtTime(d.nextAttemptTime)}.</p>}
      {[...d.attemptList].reverse().map((a, i) => (
        <details class="attempt card" key={a.number} open={i === 0}>
          <summary>
            Attempt {a.number} · {fmtTime(a.startTime)} · <CodeBadge code={a.responseStatusCode} /> · {fmtDur(durMs(a.duration))}
            {a.error && <span class="warn-text"> · {a.error}</span>}
          </summary>
          <div class="attempt-grid">
            <div>
              <h3>Request</h3>
              <p class="mono break">
                {a.requestMethod} {a.requestUrl}
              </p>
              <HeaderList headers={a.requestHeaders} />
              <pre class="code">{pretty(a.requestBody) || "(empty)"}</pre>
            </div>
            <div>
              <h3>Response</h3>
              <p>
                <CodeBadge code={a.responseStatusCode} />
              </p>
              <HeaderList headers={a.responseHeaders} />
              <pre class="code">{a.responseBody || "(empty)"}</pre>
            </div>
          </div>
        </details>
      ))}
    </section>
  );
}
