import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { LocationProvider, Route, Router, useLocation } from "preact-iso";
import { apiError, ROLE_LABEL, SESSION_KEY, SessionContext, signIn, useSession, type ApiError, type Session } from "./api";
import { Field, Flash, FormError } from "./ui";
import { ApiKeys, Projects } from "./screens/Admin";
import { CustomerSearch, CustomerView } from "./screens/Customer";
import { DeliveryDetail } from "./screens/DeliveryDetail";
import { EventDetail, Events } from "./screens/Events";
import { EventTypeEditor, EventTypes } from "./screens/EventTypes";
import { IntegrationEditor, Integrations } from "./screens/Integrations";
import { Logs } from "./screens/Logs";
import { Queue } from "./screens/Queue";
import { Subscriptions } from "./screens/Subscriptions";
import { ExecutionDetail, TriggerEditor, Triggers } from "./screens/Triggers";
import { WebhookEditor } from "./screens/WebhookEditor";
import { Webhooks } from "./screens/Webhooks";

/** The console: sign-in with an API key, then the screens for the key's role. */
export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => !!sessionStorage.getItem(SESSION_KEY));
  const [err, setErr] = useState<ApiError | null>(null);

  const signOut = () => {
    sessionStorage.removeItem(SESSION_KEY);
    setSession(null);
  };
  const open = async (key: string) => {
    setErr(null);
    try {
      const s = await signIn(key, signOut);
      sessionStorage.setItem(SESSION_KEY, key);
      setSession(s);
    } catch (e) {
      sessionStorage.removeItem(SESSION_KEY);
      setErr(apiError(e));
    } finally {
      setChecking(false);
    }
  };
  useEffect(() => {
    const key = sessionStorage.getItem(SESSION_KEY);
    if (key) void open(key);
  }, []);

  if (checking) return <p class="center muted">Signing in…</p>;
  if (!session) return <SignIn onKey={open} err={err} />;
  return (
    <SessionContext.Provider value={session}>
      <LocationProvider>
        <Layout>
          <Router>
            <Route path="/" component={Integrations} />
            <Route path="/integrations" component={Integrations} />
            <Route path="/integrations/:id" component={IntegrationEditor} />
            <Route path="/webhooks" component={Webhooks} />
            <Route path="/webhooks/:id" component={WebhookEditor} />
            <Route path="/event-types" component={EventTypes} />
            <Route path="/event-types/:name" component={EventTypeEditor} />
            <Route path="/subscriptions" component={Subscriptions} />
            <Route path="/events" component={Events} />
            <Route path="/events/:id" component={EventDetail} />
            <Route path="/logs" component={Logs} />
            <Route path="/logs/:id" component={DeliveryDetail} />
            <Route path="/queue" component={Queue} />
            <Route path="/customers" component={CustomerSearch} />
            <Route path="/customers/:subject" component={CustomerView} />
            <Route path="/triggers" component={Triggers} />
            <Route path="/triggers/:id" component={TriggerEditor} />
            <Route path="/triggers/:id/executions/:eid" component={ExecutionDetail} />
            <Route path="/keys" component={ApiKeys} />
            <Route path="/projects" component={Projects} />
            <Route default component={NotFound} />
          </Router>
        </Layout>
      </LocationProvider>
    </SessionContext.Provider>
  );
}

function SignIn(props: { onKey: (key: string) => void; err: ApiError | null }) {
  const [key, setKey] = useState("");
  // Cold-load figure (README): navigation start → the sign-in form on screen.
  useEffect(() => void performance.mark?.("hookd-console-ready"), []);
  return (
    <main class="signin">
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) props.onKey(key.trim());
        }}
      >
        <h1>
          <span class="logo" aria-hidden="true">
            h
          </span>{" "}
          hookd console
        </h1>
        <p class="muted">
          Sign in with an API key (<code>hk_…</code>). It is kept in this tab's session storage only and sent as{" "}
          <code>Authorization: Bearer</code>; it never appears in a URL. A first <code>hookd serve</code> prints an
          admin key; <code>hookd keys create</code> makes more.
        </p>
        <Field label="API key" err={props.err} name="api_key">
          {(id) => (
            <input
              id={id}
              type="password"
              autocomplete="off"
              spellcheck={false}
              value={key}
              onInput={(e) => setKey((e.target as HTMLInputElement).value)}
              autoFocus
            />
          )}
        </Field>
        <FormError err={props.err} />
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}

const NAV: { href: string; label: string; admin?: boolean; instance?: boolean }[] = [
  { href: "/integrations", label: "Integrations" },
  { href: "/webhooks", label: "Webhooks" },
  { href: "/event-types", label: "Event types" },
  { href: "/subscriptions", label: "Subscriptions" },
  { href: "/events", label: "Events" },
  { href: "/logs", label: "Logs" },
  { href: "/queue", label: "Queue" },
  { href: "/customers", label: "Customers" },
  { href: "/triggers", label: "Triggers" },
  { href: "/keys", label: "API keys", admin: true },
  { href: "/projects", label: "Projects", admin: true },
];

function Layout(props: { children: ComponentChildren }) {
  const s = useSession();
  const { path } = useLocation();
  const active = (href: string) => path === href || path.startsWith(href + "/") || (href === "/integrations" && path === "/");
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <nav class="side" aria-label="Main">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            h
          </span>{" "}
          hookd
        </div>
        <ul>
          {NAV.filter((n) => !n.admin || s.isAdmin).map((n) => (
            <li key={n.href}>
              <a href={n.href} aria-current={active(n.href) ? "page" : undefined}>
                {n.label}
              </a>
            </li>
          ))}
        </ul>
        <div class="who">
          <div>
            <span class="muted">Project</span> {s.project.name}
          </div>
          <div>
            <span class="muted">Key</span> {s.key.name} ·{" "}
            <span class="role" data-role={ROLE_LABEL[s.key.role]}>
              {ROLE_LABEL[s.key.role]}
            </span>
          </div>
          <button type="button" class="small" onClick={s.signOut}>
            Sign out
          </button>
        </div>
      </nav>
      <main id="main" tabIndex={-1}>
        {!s.canWrite && (
          <div class="notice info readonly" role="status">
            Read-only: this VIEWER key can see everything but change nothing.
          </div>
        )}
        <Flash />
        {props.children}
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        This page does not exist. Go to <a href="/integrations">Integrations</a> or <a href="/logs">Logs</a>.
      </p>
    </section>
  );
}
