// Browser code for browser.test.mjs, bundled with esbuild: the same calls a web app makes.
import { createHookdClient, isNotFound, verifyWebhook } from "../../dist/index.js";

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
  return { created: integration.id, listed: integrations.map((i) => i.name), notFound, verified: true };
}

run().then(
  (result) => (window.__result = result),
  (err) => (window.__result = { error: String(err) }),
);
