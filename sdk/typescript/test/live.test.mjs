// Runs the compiled SDK (dist/) against a real `hookd serve --dev` process.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  ActionStatusError,
  Code,
  completeAction,
  ConnectError,
  createHookdClient,
  fieldViolations,
  DeliveryChange,
  DeliveryStatus,
  isInvalidArgument,
  isNotFound,
  isUnauthenticated,
  parseWebhook,
} from "../dist/index.js";
import { eventually, startHookd } from "./hookd.mjs";

let hookd;
let client;

before(async () => {
  hookd = await startHookd();
  client = createHookdClient({ baseUrl: hookd.url, apiKey: hookd.apiKey });
});

after(async () => {
  await hookd?.stop();
});

/** A node:http webhook receiver that verifies each request with parseWebhook and queues the envelopes. */
async function startReceiver(getSecret, status = 200) {
  const received = [];
  const waiters = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    try {
      const envelope = await parseWebhook(getSecret(), req.headers, body);
      res.writeHead(status).end();
      const item = { envelope, headers: req.headers };
      const w = waiters.shift();
      if (w) w(item);
      else received.push(item);
    } catch (err) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ reason: String(err) }));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    next: (timeoutMs = 30_000) =>
      received.length
        ? Promise.resolve(received.shift())
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error("no delivery received")), timeoutMs);
            waiters.push((item) => {
              clearTimeout(t);
              resolve(item);
            });
          }),
    pending: () => received.length,
    close: () => new Promise((r) => server.close(r)),
  };
}

async function setupWebhook(eventType, url, asyncStatus = false) {
  await client.eventTypes.createEventType({ name: eventType });
  const { webhook } = await client.webhooks.createWebhook({
    name: `${eventType} receiver`,
    systemName: eventType.replaceAll(".", "-"),
    url,
    asyncStatus,
  });
  await client.subscriptions.createSubscription({ webhookId: webhook.id, eventTypes: [eventType] });
  return webhook;
}

async function waitStatus(id, status) {
  return eventually(async () => {
    const { delivery } = await client.deliveries.getDelivery({ id });
    return delivery.status === status ? delivery : undefined;
  }, 30_000, `delivery ${id} to be ${DeliveryStatus[status]}`);
}

test("CRUD: integration, event type, webhook, subscription", async () => {
  const { integration } = await client.integrations.createIntegration({
    name: "CRM",
    baseUrl: "http://127.0.0.1:9/crm",
    headers: [{ name: "X-Team", value: "core" }],
  });
  assert.match(integration.id, /^int_/);
  const got = await client.integrations.getIntegration({ id: integration.id });
  assert.equal(got.integration.name, "CRM");
  const list = await client.integrations.listIntegrations({ pageSize: 10 });
  assert.ok(list.integrations.some((i) => i.id === integration.id));
  const upd = await client.integrations.updateIntegration({ id: integration.id, name: "CRM v2" });
  assert.equal(upd.integration.name, "CRM v2");
  assert.equal(upd.integration.baseUrl, "http://127.0.0.1:9/crm");

  const { eventType } = await client.eventTypes.createEventType({ name: "invoice.paid", description: "Paid." });
  assert.equal((await client.eventTypes.getEventType({ name: "invoice.paid" })).eventType.id, eventType.id);

  const { webhook } = await client.webhooks.createWebhook({
    integrationId: integration.id,
    name: "Paid invoices",
    systemName: "crm-invoice-paid",
    path: "/invoices",
  });
  assert.match(webhook.id, /^wh_/);
  assert.equal(webhook.fullUrl, "http://127.0.0.1:9/crm/invoices");
  assert.match(webhook.secret, /^whsec_/);
  const wl = await client.webhooks.listWebhooks({ integrationId: integration.id });
  assert.deepEqual(wl.webhooks.map((w) => w.id), [webhook.id]);

  const { subscription } = await client.subscriptions.createSubscription({ webhookId: webhook.id, eventTypes: ["invoice.paid"] });
  assert.match(subscription.id, /^sub_/);
  const su = await client.subscriptions.updateSubscription({ id: subscription.id, enabled: false });
  assert.equal(su.subscription.enabled, false);

  await client.subscriptions.deleteSubscription({ id: subscription.id });
  await client.webhooks.deleteWebhook({ id: webhook.id });
  await client.eventTypes.deleteEventType({ id: eventType.id });
  await client.integrations.deleteIntegration({ id: integration.id });
  await assert.rejects(client.integrations.getIntegration({ id: integration.id }), isNotFound);
  await assert.rejects(client.webhooks.getWebhook({ id: webhook.id }), isNotFound);
});

test("publish with an idempotency key and receive a verified delivery", async (t) => {
  let secret = "";
  const receiver = await startReceiver(() => secret);
  t.after(receiver.close);
  const webhook = await setupWebhook("user.created", receiver.url);
  secret = webhook.secret;

  const req = { eventType: "user.created", subject: "cus_42", idempotencyKey: "signup-42", payload: { email: "ada@example.com" } };
  const first = await client.events.publishEvent(req);
  assert.match(first.event.id, /^evt_/);
  assert.equal(first.deliveryIds.length, 1);
  const again = await client.events.publishEvent(req);
  assert.equal(again.event.id, first.event.id);
  assert.deepEqual(again.deliveryIds, first.deliveryIds);

  const { envelope, headers } = await receiver.next();
  assert.equal(envelope.id, first.event.id);
  assert.equal(envelope.type, "user.created");
  assert.equal(envelope.subject, "cus_42");
  assert.deepEqual(envelope.data, { email: "ada@example.com" });
  assert.equal(envelope.meta.deliveryId, first.deliveryIds[0]);
  assert.equal(headers["webhook-id"], envelope.meta.deliveryId);
  await waitStatus(first.deliveryIds[0], DeliveryStatus.DONE);
  assert.equal(receiver.pending(), 0, "the idempotent re-publish was not delivered again");
});

test("watchDeliveries streams a delivery's changes as they happen (the README's live tail)", async (t) => {
  let secret = "";
  const receiver = await startReceiver(() => secret);
  t.after(receiver.close);
  const webhook = await setupWebhook("order.watched", receiver.url);
  secret = webhook.secret;

  const ctl = new AbortController();
  // A stream lives longer than the client's default 30 s timeout: give it its own (or a signal).
  const stream = client.deliveries.watchDeliveries({ filter: { webhookId: webhook.id } }, { signal: ctl.signal, timeoutMs: 600_000 });
  const it = stream[Symbol.asyncIterator]();
  const heartbeat = await it.next(); // the first message: the watch is registered
  assert.equal(heartbeat.value.delivery, undefined);
  const { deliveryIds } = await client.events.publishEvent({ eventType: "order.watched", payload: { n: 1 } });
  const seen = [];
  while (!seen.includes(DeliveryChange.ATTEMPTED)) {
    const { value } = await it.next();
    if (!value.delivery) continue;
    assert.equal(value.delivery.id, deliveryIds[0]);
    assert.equal(value.delivery.webhookName, webhook.name);
    seen.push(value.change);
  }
  assert.deepEqual(seen, [DeliveryChange.CREATED, DeliveryChange.ATTEMPTED]);
  ctl.abort();
  await assert.rejects(it.next(), (e) => ConnectError.from(e).code === Code.Canceled);
});

test("async status: 202 then completeAction(failed)", async (t) => {
  let secret = "";
  const receiver = await startReceiver(() => secret, 202);
  t.after(receiver.close);
  const webhook = await setupWebhook("payment.requested", receiver.url, true);
  secret = webhook.secret;

  const res = await client.events.publishEvent({ eventType: "payment.requested" });
  const { envelope } = await receiver.next();
  await waitStatus(res.deliveryIds[0], DeliveryStatus.WAITING);
  await completeAction(envelope.meta.link, { status: "failed", reason: "card declined" });
  const d = await waitStatus(res.deliveryIds[0], DeliveryStatus.FAILED);
  assert.equal(d.reason, "card declined");
  await assert.rejects(completeAction(envelope.meta.link, { status: "done" }), (err) => err instanceof ActionStatusError && err.status === 404);
});

test("error codes", async () => {
  await assert.rejects(client.integrations.getIntegration({ id: "int_does_not_exist" }), (err) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.NotFound);
    return isNotFound(err);
  });
  await assert.rejects(client.integrations.createIntegration({ baseUrl: "http://127.0.0.1:9" }), (err) => {
    assert.ok(isInvalidArgument(err), String(err));
    assert.match(err.rawMessage, /name/);
    assert.deepEqual(fieldViolations(err).map((v) => v.field), ["name"]);
    return true;
  });
  const bad = createHookdClient({ baseUrl: hookd.url, apiKey: "hk_not_a_key" });
  await assert.rejects(bad.integrations.listIntegrations({}), isUnauthenticated);
});

test("custom transport (gRPC-Web, binary) gets the API key", async () => {
  const grpcWeb = createHookdClient({
    apiKey: hookd.apiKey,
    transport: createGrpcWebTransport({ baseUrl: hookd.url, useBinaryFormat: true }),
  });
  const { integration } = await grpcWeb.integrations.createIntegration({ name: "via grpc-web", baseUrl: "http://127.0.0.1:9" });
  const got = await client.integrations.getIntegration({ id: integration.id });
  assert.equal(got.integration.name, "via grpc-web");
  await assert.rejects(grpcWeb.integrations.getIntegration({ id: "int_nope" }), isNotFound);
  // A server stream through the custom transport carries the key too (CSV header row at least).
  let csv = "";
  for await (const chunk of grpcWeb.deliveries.exportDeliveries({})) csv += new TextDecoder().decode(chunk.data);
  assert.match(csv, /^\S/, "the export streamed data");
  const stranger = createHookdClient({ apiKey: "hk_not_a_key", transport: createGrpcWebTransport({ baseUrl: hookd.url }) });
  await assert.rejects(async () => {
    for await (const _ of stranger.deliveries.exportDeliveries({}));
  }, isUnauthenticated);
  // Both kinds of call through the default transport as well.
  let csv2 = "";
  for await (const chunk of client.deliveries.exportDeliveries({})) csv2 += new TextDecoder().decode(chunk.data);
  assert.equal(csv2.split("\n")[0], csv.split("\n")[0]);
  const binary = createHookdClient({ baseUrl: hookd.url, apiKey: hookd.apiKey, useBinaryFormat: true });
  assert.ok((await binary.integrations.listIntegrations({})).integrations.length > 0);
});
