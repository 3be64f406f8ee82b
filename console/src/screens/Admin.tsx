// API keys (ADMIN) and projects (instance admins create them).
import { useState } from "preact/hooks";
import { Role, type ApiKey } from "@hookd/client";
import { fmtTime, ROLE_LABEL, useSession } from "../api";
import { CopyButton, Empty, Field, FormError, ListState, Notice, PageHead, Pager, TextField, useAction, usePaged } from "../ui";

export function ApiKeys() {
  const { client, isAdmin, isInstanceAdmin, key: me } = useSession();
  const [projectId, setProjectId] = useState("");
  const p = usePaged(async (pageToken) => {
    const r = await client.apiKeys.listApiKeys({ pageToken, pageSize: 50, projectId });
    return { items: r.apiKeys, next: r.nextPageToken };
  }, [projectId]);
  const act = useAction();
  if (!isAdmin) return <Notice>API keys are managed with an ADMIN key.</Notice>;
  return (
    <section>
      <PageHead title="API keys" sub="Keys are shown once, when created; hookd keeps only their hash." />
      {isInstanceAdmin && (
        <div class="filters">
          <TextField label="Project" value={projectId} onValue={setProjectId} placeholder="this key's project" hint="Instance admins may list and create keys of any project." />
        </div>
      )}
      <NewKey projectId={projectId} onDone={p.reload} />
      <ListState items={p.items} err={p.err} empty={<Empty title="No keys" />}>
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Role</th>
                  <th>Prefix</th>
                  <th>Created</th>
                  <th>State</th>
                  <th>
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((k: ApiKey) => (
                  <tr key={k.id}>
                    <td>
                      {k.name} {k.id === me.id && <span class="badge">this key</span>}
                      <div class="muted mono small">{k.id}</div>
                    </td>
                    <td>
                      {ROLE_LABEL[k.role]}
                      {k.instanceAdmin && " · instance admin"}
                    </td>
                    <td class="mono">{k.prefix ? `${k.prefix}…` : <span class="muted" title="The start of an operator-chosen key (the bootstrap key) is not stored: it could be most of the key.">not stored (operator-chosen key)</span>}</td>
                    <td>{fmtTime(k.createTime)}</td>
                    <td>{k.revokeTime ? <span class="badge s-failed">revoked {fmtTime(k.revokeTime)}</span> : <span class="badge s-done">active</span>}</td>
                    <td>
                      {!k.revokeTime && k.id !== me.id && (
                        <button
                          type="button"
                          class="small danger"
                          onClick={() =>
                            confirm(`Revoke key "${k.name}"? It is refused from then on.`) &&
                            void act.run(async () => {
                              await client.apiKeys.revokeApiKey({ id: k.id });
                              p.reload();
                            })
                          }
                        >
                          Revoke
                        </button>
                      )}
                    </td>
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

function NewKey(props: { projectId: string; onDone: () => void }) {
  const { client } = useSession();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(Role.VIEWER);
  const [created, setCreated] = useState("");
  const act = useAction();
  return (
    <form
      class="card form"
      aria-label="New API key"
      onSubmit={(e) => {
        e.preventDefault();
        void act.run(async () => {
          const r = await client.apiKeys.createApiKey({ name, role, projectId: props.projectId });
          setCreated(r.key);
          setName("");
          props.onDone();
        });
      }}
    >
      <h2>New key</h2>
      <TextField label="Name" name="name" err={act.err} value={name} onValue={setName} />
      <Field label="Role" name="role" err={act.err}>
        {(id) => (
          <select id={id} value={role} onChange={(e) => setRole(Number((e.target as HTMLSelectElement).value))}>
            <option value={Role.VIEWER}>VIEWER — read only</option>
            <option value={Role.MEMBER}>MEMBER — configure; private values hidden</option>
            <option value={Role.ADMIN}>ADMIN — everything, sees secrets</option>
          </select>
        )}
      </Field>
      <FormError err={act.err} fields={["name", "role"]} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={act.busy}>
          Create key
        </button>
      </div>
      {created && (
        <Notice kind="ok">
          New key (shown only now): <span class="mono break" data-testid="new-key">{created}</span> <CopyButton text={created} />
        </Notice>
      )}
    </form>
  );
}

export function Projects() {
  const { client, isInstanceAdmin } = useSession();
  const p = usePaged(async (pageToken) => {
    const r = await client.projects.listProjects({ pageToken, pageSize: 50 });
    return { items: r.projects, next: r.nextPageToken };
  }, []);
  const [name, setName] = useState("");
  const act = useAction();
  return (
    <section>
      <PageHead title="Projects" sub="Projects isolate everything: keys, integrations, webhooks, events and logs." />
      {isInstanceAdmin ? (
        <form
          class="card form"
          aria-label="New project"
          onSubmit={(e) => {
            e.preventDefault();
            void act.run(async () => {
              await client.projects.createProject({ name });
              setName("");
              p.reload();
            });
          }}
        >
          <TextField label="New project name" name="name" err={act.err} value={name} onValue={setName} />
          <FormError err={act.err} fields={["name"]} />
          <div class="buttons">
            <button type="submit" class="primary" disabled={act.busy}>
              Create project
            </button>
          </div>
          <p class="hint">Then create an ADMIN key for it on the API keys page (enter its id as the project).</p>
        </form>
      ) : (
        <Notice>Only instance admin keys create projects; this key sees its own project.</Notice>
      )}
      <ListState items={p.items} err={p.err} empty={<Empty title="No projects" />}>
        {(items) => (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>ID</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {items.map((pr) => (
                  <tr key={pr.id}>
                    <td>{pr.name}</td>
                    <td class="mono">{pr.id}</td>
                    <td>{fmtTime(pr.createTime)}</td>
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
