// Integrations (seed 001): a base URL, shared headers (private values hidden from non-ADMIN keys) and a rate
// limit shared by all of the integration's webhooks; each integration lists its webhooks.
import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import type { Integration } from "@hookd/client";
import { apiError, type ApiError, useSession } from "../api";
import {
  Empty,
  FormError,
  HeadersEditor,
  ListState,
  Notice,
  PageHead,
  Pager,
  TextField,
  useAction,
  usePaged,
  type HeaderRow,
  flash,
} from "../ui";
import { AUTH_KINDS, AuthEditor, authForm, authFromForm, EMPTY_AUTH, type AuthForm } from "./IntegrationAuth";
import { WebhookTable } from "./Webhooks";

export function Integrations() {
  const { client, canWrite } = useSession();
  const p = usePaged(async (pageToken) => {
    const r = await client.integrations.listIntegrations({ pageToken, pageSize: 50 });
    return { items: r.integrations, next: r.nextPageToken };
  }, []);
  return (
    <section>
      <PageHead title="Integrations" sub="A base URL, shared headers, authentication and a rate limit for the webhooks that call one service.">
        {canWrite && (
          <a class="button primary" href="/integrations/new">
            Add integration
          </a>
        )}
      </PageHead>
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title="No integrations yet">
            {canWrite ? (
              <>
                <a href="/integrations/new">Add an integration</a> with the root URL of the service you call, then add its
                webhooks. Or create a <a href="/webhooks/new">standalone webhook</a>.
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
                  <th>Base URL</th>
                  <th>Rate limit</th>
                  <th>Headers</th>
                  <th>Authentication</th>
                </tr>
              </thead>
              <tbody>
                {items.map((i) => (
                  <tr key={i.id}>
                    <td>
                      <a href={`/integrations/${i.id}`}>{i.name}</a>
                    </td>
                    <td class="mono">{i.baseUrl}</td>
                    <td>{i.rateLimitPerSecond ? `${i.rateLimitPerSecond}/s` : "unlimited"}</td>
                    <td>{i.headers.map((h) => h.name).join(", ") || <span class="muted">none</span>}</td>
                    <td>{AUTH_KINDS.find((k) => k.kind === authForm(i.auth).kind)?.label}</td>
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

const FIELDS = ["name", "base_url", "rate_limit_per_second", "headers", "auth"];

export function IntegrationEditor() {
  const { params } = useRoute();
  const { route } = useLocation();
  const { client, canWrite, isAdmin } = useSession();
  const isNew = params.id === "new";
  const [loaded, setLoaded] = useState<Integration | null>(null);
  const [loadErr, setLoadErr] = useState<ApiError | null>(null);
  const [name, setName] = useState("");
  const [baseUrl, setBaseUrl] = useState("https://");
  const [rate, setRate] = useState("0");
  const [headers, setHeaders] = useState<HeaderRow[]>([]);
  const [auth, setAuth] = useState<AuthForm>(EMPTY_AUTH);
  const [saved, setSaved] = useState(false);
  const act = useAction();

  useEffect(() => {
    if (isNew) return;
    client.integrations.getIntegration({ id: params.id }).then(
      (r) => {
        const i = r.integration!;
        setLoaded(i);
        setName(i.name);
        setBaseUrl(i.baseUrl);
        setRate(String(i.rateLimitPerSecond));
        setHeaders(i.headers.map((h) => ({ name: h.name, value: h.value, private: h.private })));
        setAuth(authForm(i.auth));
      },
      (e) => setLoadErr(apiError(e)),
    );
  }, [params.id]);

  if (loadErr) return <Notice kind="error">{loadErr.message}</Notice>;
  if (!isNew && !loaded) return <p class="muted">Loading…</p>;
  const ro = !canWrite;

  const save = (e: Event) => {
    e.preventDefault();
    setSaved(false);
    void act.run(async () => {
      const rateLimitPerSecond = Number(rate) || 0;
      if (isNew) {
        const r = await client.integrations.createIntegration({
          name,
          baseUrl,
          rateLimitPerSecond,
          headers,
          auth: auth.kind === "none" ? undefined : authFromForm(auth),
        });
        flash(`Integration "${r.integration!.name}" created. Add a webhook under it.`);
        route(`/integrations/${r.integration!.id}`);
      } else {
        const r = await client.integrations.updateIntegration({
          id: params.id,
          name,
          baseUrl,
          rateLimitPerSecond,
          headers: { values: headers },
          auth: authFromForm(auth),
        });
        setLoaded(r.integration!);
        setAuth(authForm(r.integration!.auth));
        setSaved(true);
      }
    });
  };

  return (
    <section>
      <PageHead
        title={isNew ? "New integration" : loaded!.name}
        sub={
          <>
            <a href="/integrations">Integrations</a>
            {!isNew && <> · <span class="mono">{params.id}</span></>}
          </>
        }
      >
        {!isNew && canWrite && (
          <button
            type="button"
            class="danger"
            onClick={() =>
              confirm(`Delete integration "${loaded!.name}"? Its webhooks must be deleted or moved first.`) &&
              void act.run(async () => {
                await client.integrations.deleteIntegration({ id: params.id });
                route("/integrations");
              })
            }
          >
            Delete
          </button>
        )}
      </PageHead>
      <form class="card form" onSubmit={save}>
        <TextField label="Name" name="name" err={act.err} value={name} onValue={setName} required readOnly={ro} />
        <TextField
          label="URL"
          name="base_url"
          err={act.err}
          value={baseUrl}
          onValue={setBaseUrl}
          readOnly={ro}
          wide
          hint="The root URL used by all webhooks of this integration; each webhook may add a path."
        />
        <TextField
          label="Requests per second"
          name="rate_limit_per_second"
          type="number"
          min={0}
          err={act.err}
          value={rate}
          onValue={setRate}
          readOnly={ro}
          hint="Shared by all webhooks of the integration, across all hookd processes; 0 = unlimited. Deliveries wait, never fail."
        />
        <HeadersEditor label="Headers" field="headers" rows={headers} onChange={setHeaders} err={act.err} readOnly={ro} />
        {!isAdmin && headers.some((h) => h.private) && (
          <p class="hint">Private values show as ******** for this key; saving ******** keeps the stored value.</p>
        )}
        <AuthEditor value={auth} onChange={setAuth} err={act.err} readOnly={ro} />
        <FormError err={act.err} fields={FIELDS} />
        {saved && <Notice kind="ok">Saved.</Notice>}
        {canWrite && (
          <div class="buttons">
            <button type="submit" class="primary" disabled={act.busy}>
              {isNew ? "Create integration" : "Save"}
            </button>
          </div>
        )}
      </form>
      {!isNew && <IntegrationWebhooks integrationId={params.id} />}
    </section>
  );
}

function IntegrationWebhooks(props: { integrationId: string }) {
  const { client, canWrite } = useSession();
  const p = usePaged(async (pageToken) => {
    const r = await client.webhooks.listWebhooks({ pageToken, pageSize: 50, integrationId: props.integrationId });
    return { items: r.webhooks, next: r.nextPageToken };
  }, [props.integrationId]);
  return (
    <section>
      <PageHead title={<span class="h2">Webhooks</span>}>
        {canWrite && (
          <a class="button primary" href={`/webhooks/new?integration=${props.integrationId}`}>
            Add webhook
          </a>
        )}
      </PageHead>
      <ListState
        items={p.items}
        err={p.err}
        empty={
          <Empty title="No webhooks in this integration">
            {canWrite ? (
              <>
                <a href={`/webhooks/new?integration=${props.integrationId}`}>Add a webhook</a>: it inherits the base URL and
                headers.
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
