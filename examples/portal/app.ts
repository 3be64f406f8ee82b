// The frontend team's own UI on the same contract: @hookd/client with the portal token, in the browser.
// The backend mints the session (server.mjs, /portal-session); the token is confined to the customer's tenant,
// short-lived, and hookd answers CORS for it from the session's allowed_origins only.
import { createHookdClient, DeliveryStatus } from "@hookd/client";

const { token } = await (await fetch("/portal-session")).json();
const hookd = createHookdClient({ baseUrl: "http://127.0.0.1:8080", token });

const list = document.getElementById("endpoints")!;
for (const w of (await hookd.webhooks.listWebhooks({})).webhooks) {
  list.append(Object.assign(document.createElement("li"), { textContent: `${w.url} (${w.enabled ? "enabled" : "disabled"})` }));
}
document.getElementById("add")!.addEventListener("submit", async (e) => {
  e.preventDefault();
  const url = (document.getElementById("url") as HTMLInputElement).value;
  const { webhook } = await hookd.webhooks.createWebhook({ name: new URL(url).host, url }); // the tenant is the token's
  await hookd.subscriptions.createSubscription({ webhookId: webhook!.id, eventTypes: ["order.paid"] });
  location.reload();
});
// Live delivery log of this customer's endpoints only.
const log = document.getElementById("log")!;
for await (const { delivery } of hookd.deliveries.watchDeliveries({})) {
  if (delivery) log.prepend(Object.assign(document.createElement("li"), { textContent: `${delivery.eventType}: ${DeliveryStatus[delivery.status]}` }));
}
