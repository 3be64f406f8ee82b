// Browser code for browser.test.mjs, bundled with esbuild: the same calls a web app makes.
import { createHookdClient, isNotFound, verifyWebhook, WebhookVerificationError } from "../../dist/index.js";

async function run() {
  const params = new URLSearchParams(location.search);
  const client = createHookdClient({ baseUrl: params.get("hookd"), apiKey: params.get("key") });
  const { integration } = await client.integrations.createIntegration({ name: "From the browser", baseUrl: "http://127.0.0.1:9" });
  const { integrations } = await client.integrations.listIntegrations({ pageSize: 50 });
  let notFound = false;
  try {
    await client.integrations.getIntegration({ id: "int_does_not_exist" });
  } catch (err) {
    notFound = isNotFound(err);
  }
  // WebCrypto verification in the browser, on the published Standard Webhooks vector.
  await verifyWebhook(
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    new Headers({
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }),
    '{"test": 2432232314}',
    { now: new Date(1614265330 * 1000) },
  );
  // WebCrypto Ed25519 in the browser, on a vector made by Go's crypto/ed25519 (see verify.test.mjs).
  const edHeaders = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1a,ho79GTfFJvxbyvzd9KjxMLh0bt+JEEDc0gT12qpbACqBnLMLQe3Vdch0BPXUcReBf83ytAtTB/uUhbEdteWRAA==",
  };
  const at = { now: new Date(1614265330 * 1000) };
  await verifyWebhook("whpk_wYCjFOq+Df4lfvZ+ZZTCei5VIjokcso93NPh1nDYrSM=", edHeaders, '{"test": 2432232314}', at);
  let wrongKeyRejected = false;
  try {
    await verifyWebhook("whpk_SQp0qYMLHrPzZoZW+Rhr0TtVjKe93dYvIxpmH71IiIU=", edHeaders, '{"test": 2432232314}', at);
  } catch (err) {
    wrongKeyRejected = err instanceof WebhookVerificationError;
  }
  return { created: integration.id, listed: integrations.map((i) => i.name), notFound, verified: true, ed25519: wrongKeyRejected };
}

run().then(
  (result) => (window.__result = result),
  (err) => (window.__result = { error: String(err) }),
);
