import { fireEvent, render, screen } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { describe, expect, it } from "vitest";
import { create, IntegrationAuthSchema, toJson } from "@hookd/client";
import { AuthEditor, authForm, authFromForm, EMPTY_AUTH, type AuthForm } from "../src/screens/IntegrationAuth";

const MASKED = "********";

// Host keeps the editor's state, as the integration editor does, and exposes the last form.
let last: AuthForm = EMPTY_AUTH;
function Host(props: { initial: AuthForm }) {
  const [f, setF] = useState(props.initial);
  last = f;
  return <AuthEditor value={f} onChange={setF} />;
}

describe("integration auth editor", () => {
  it("offers none, basic, OAuth2 client credentials and mTLS", () => {
    render(<Host initial={EMPTY_AUTH} />);
    const select = screen.getByLabelText("Authentication") as HTMLSelectElement;
    expect([...select.options].map((o) => o.text)).toEqual(["None", "Basic", "OAuth2 client credentials", "mTLS client certificate"]);
    fireEvent.change(select, { target: { value: "oauth2ClientCredentials" } });
    fireEvent.input(screen.getByLabelText("Client ID"), { target: { value: "hookd" } });
    fireEvent.input(screen.getByLabelText("Client secret"), { target: { value: "s3cret" } });
    fireEvent.input(screen.getByLabelText("Scopes"), { target: { value: " read  write " } });
    expect((screen.getByLabelText("Client secret") as HTMLInputElement).type).toBe("password");
    expect(toJson(IntegrationAuthSchema, authFromForm(last))).toEqual({
      oauth2ClientCredentials: { tokenUrl: "https://", clientId: "hookd", clientSecret: "s3cret", scopes: ["read", "write"] },
    });
    fireEvent.change(select, { target: { value: "tlsClient" } });
    expect(screen.getByLabelText("Client certificate (PEM)")).toBeTruthy();
    expect(screen.getByLabelText("Private key (PEM)")).toBeTruthy();
    fireEvent.change(select, { target: { value: "none" } });
    expect(toJson(IntegrationAuthSchema, authFromForm(last))).toEqual({});
  });

  it("keeps a masked secret as ******** when unchanged", () => {
    const read = create(IntegrationAuthSchema, { kind: { case: "basic", value: { username: "ada", password: MASKED } } });
    render(<Host initial={authForm(read)} />);
    expect((screen.getByLabelText("Username") as HTMLInputElement).value).toBe("ada");
    const password = screen.getByLabelText("Password") as HTMLInputElement;
    expect(password.value).toBe(MASKED);
    fireEvent.input(screen.getByLabelText("Username"), { target: { value: "eve" } });
    expect(toJson(IntegrationAuthSchema, authFromForm(last))).toEqual({ basic: { username: "eve", password: MASKED } });

    const tls = create(IntegrationAuthSchema, { kind: { case: "tlsClient", value: { certificatePem: "-----BEGIN CERTIFICATE-----", privateKeyPem: MASKED } } });
    expect(authFromForm(authForm(tls))).toEqual(tls);
  });
});
