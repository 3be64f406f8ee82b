// The authentication of an integration (Integration.auth): none, HTTP Basic, OAuth2 client credentials or a TLS
// client certificate. Secrets read as ******** for non-ADMIN keys; sending ******** back keeps the stored value.
import { create, IntegrationAuthSchema, type IntegrationAuth } from "@hookd/client";
import { MASKED, type ApiError } from "../api";
import { Field, TextArea, TextField } from "../ui";

/** The kinds offered by the editor ("none" removes the authentication). */
export type AuthKind = "none" | "basic" | "oauth2ClientCredentials" | "tlsClient";

export const AUTH_KINDS: { kind: AuthKind; label: string }[] = [
  { kind: "none", label: "None" },
  { kind: "basic", label: "Basic" },
  { kind: "oauth2ClientCredentials", label: "OAuth2 client credentials" },
  { kind: "tlsClient", label: "mTLS client certificate" },
];

/** The editor's state: the fields of every kind (switching kinds keeps what was typed). */
export interface AuthForm {
  kind: AuthKind;
  username: string;
  password: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  audience: string;
  certificatePem: string;
  privateKeyPem: string;
}

export const EMPTY_AUTH: AuthForm = {
  kind: "none",
  username: "",
  password: "",
  tokenUrl: "https://",
  clientId: "",
  clientSecret: "",
  scopes: "",
  audience: "",
  certificatePem: "",
  privateKeyPem: "",
};

/** The form of an integration's auth as read (secrets as the API gave them: masked for non-ADMIN keys). */
export function authForm(a: IntegrationAuth | undefined): AuthForm {
  const k = a?.kind;
  switch (k?.case) {
    case "basic":
      return { ...EMPTY_AUTH, kind: "basic", username: k.value.username, password: k.value.password };
    case "oauth2ClientCredentials":
      return {
        ...EMPTY_AUTH,
        kind: "oauth2ClientCredentials",
        tokenUrl: k.value.tokenUrl,
        clientId: k.value.clientId,
        clientSecret: k.value.clientSecret,
        scopes: k.value.scopes.join(" "),
        audience: k.value.audience,
      };
    case "tlsClient":
      return { ...EMPTY_AUTH, kind: "tlsClient", certificatePem: k.value.certificatePem, privateKeyPem: k.value.privateKeyPem };
  }
  return EMPTY_AUTH;
}

/** The IntegrationAuth to send for a form: no kind set for "none" (which removes it in an update). */
export function authFromForm(f: AuthForm): IntegrationAuth {
  switch (f.kind) {
    case "basic":
      return create(IntegrationAuthSchema, { kind: { case: "basic", value: { username: f.username, password: f.password } } });
    case "oauth2ClientCredentials":
      return create(IntegrationAuthSchema, {
        kind: {
          case: "oauth2ClientCredentials",
          value: {
            tokenUrl: f.tokenUrl,
            clientId: f.clientId,
            clientSecret: f.clientSecret,
            scopes: f.scopes.split(/\s+/).filter(Boolean),
            audience: f.audience,
          },
        },
      });
    case "tlsClient":
      return create(IntegrationAuthSchema, {
        kind: { case: "tlsClient", value: { certificatePem: f.certificatePem, privateKeyPem: f.privateKeyPem } },
      });
  }
  return create(IntegrationAuthSchema);
}

const SECRET_HINT = "Shown as ******** to non-ADMIN keys; saving ******** keeps the stored value.";

/** Edits an integration's authentication. */
export function AuthEditor(props: {
  value: AuthForm;
  onChange: (f: AuthForm) => void;
  err?: ApiError | null;
  readOnly?: boolean;
}) {
  const { value: f, err, readOnly: ro } = props;
  const set = (patch: Partial<AuthForm>) => props.onChange({ ...f, ...patch });
  const secret = (v: string) => (v === MASKED ? "text" : "password");
  return (
    <fieldset class="auth">
      <legend>Authentication</legend>
      <Field
        label="Authentication"
        name="auth"
        err={err && err.field === "auth" ? err : null}
        hint="Sent only to this integration's own origin (scheme, host and port of its URL). Changing it needs an ADMIN key."
      >
        {(id) => (
          <select id={id} value={f.kind} disabled={ro} onChange={(e) => set({ kind: (e.target as HTMLSelectElement).value as AuthKind })}>
            {AUTH_KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      {f.kind === "basic" && (
        <>
          <TextField label="Username" name="auth.basic.username" err={err} value={f.username} onValue={(v) => set({ username: v })} readOnly={ro} autocomplete="off" />
          <TextField
            label="Password"
            name="auth.basic.password"
            err={err}
            type={secret(f.password)}
            value={f.password}
            onValue={(v) => set({ password: v })}
            readOnly={ro}
            autocomplete="new-password"
            hint={SECRET_HINT}
          />
        </>
      )}
      {f.kind === "oauth2ClientCredentials" && (
        <>
          <TextField
            label="Token URL"
            name="auth.oauth2_client_credentials.token_url"
            err={err}
            value={f.tokenUrl}
            onValue={(v) => set({ tokenUrl: v })}
            readOnly={ro}
            wide
            hint="hookd fetches a token here (client-credentials grant), keeps it until shortly before it expires and fetches a new one after a 401."
          />
          <TextField label="Client ID" name="auth.oauth2_client_credentials.client_id" err={err} value={f.clientId} onValue={(v) => set({ clientId: v })} readOnly={ro} autocomplete="off" />
          <TextField
            label="Client secret"
            name="auth.oauth2_client_credentials.client_secret"
            err={err}
            type={secret(f.clientSecret)}
            value={f.clientSecret}
            onValue={(v) => set({ clientSecret: v })}
            readOnly={ro}
            autocomplete="new-password"
            hint={SECRET_HINT}
          />
          <TextField label="Scopes" name="auth.oauth2_client_credentials.scopes" err={err} value={f.scopes} onValue={(v) => set({ scopes: v })} readOnly={ro} hint="Space-separated; optional." />
          <TextField label="Audience" name="auth.oauth2_client_credentials.audience" err={err} value={f.audience} onValue={(v) => set({ audience: v })} readOnly={ro} hint="Optional (Auth0 and others)." />
        </>
      )}
      {f.kind === "tlsClient" && (
        <>
          <TextArea
            label="Client certificate (PEM)"
            name="auth.tls_client.certificate_pem"
            err={err}
            value={f.certificatePem}
            onValue={(v) => set({ certificatePem: v })}
            readOnly={ro}
            placeholder="-----BEGIN CERTIFICATE-----"
          />
          {f.privateKeyPem === MASKED ? (
            <TextField
              label="Private key (PEM)"
              name="auth.tls_client.private_key_pem"
              err={err}
              value={f.privateKeyPem}
              onValue={(v) => set({ privateKeyPem: v })}
              readOnly={ro}
              wide
              hint={SECRET_HINT}
            />
          ) : (
            <TextArea
              label="Private key (PEM)"
              name="auth.tls_client.private_key_pem"
              err={err}
              value={f.privateKeyPem}
              onValue={(v) => set({ privateKeyPem: v })}
              readOnly={ro}
              placeholder="-----BEGIN PRIVATE KEY-----"
              hint={SECRET_HINT}
            />
          )}
        </>
      )}
    </fieldset>
  );
}
