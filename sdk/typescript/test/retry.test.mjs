// Retries, timeouts and the API key against a scripted local server speaking the Connect protocol
// (JSON): each request takes the next step of the test's script ("503", "drop", ...), and once the
// script is used up the server answers like hookd would.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import {
  ActionStatusService,
  ApiKeyService,
  Code,
  ConnectError,
  createHookdClient,
  DeliveryService,
  EventService,
  EventTypeService,
  IntegrationService,
  isRetryableCall,
  ProjectService,
  SubscriptionService,
  TriggerService,
  WebhookService,
} from "../dist/index.js";

const ok = {
  "/hookd.v1.IntegrationService/GetIntegration": { integration: { id: "int_1" } },
  "/hookd.v1.IntegrationService/CreateIntegration": { integration: { id: "int_1" } },
  "/hookd.v1.EventService/PublishEvent": { event: { id: "evt_1" } },
  "/hookd.v1.EventService/PublishEvents": { results: [] },
};

/** Starts the scripted server; returns {url, requests: [{path, auth}], close}. */
async function startScripted(script) {
  const steps = [...script];
  const requests = [];
  const server = createServer(async (req, res) => {
    for await (const _ of req); // read the body
    requests.push({ path: req.url, auth: req.headers.authorization });
    const step = steps.shift();
    const json = (status, body, headers = {}) =>
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    switch (step) {
      case undefined:
        return json(200, ok[req.url] ?? {});
      case "drop": // a network error: the connection closes without an answer
        return req.socket.destroy();
      case "hang":
        return; // never answers
      case "429-long":
        return res.writeHead(429, { "retry-after": "3600" }).end("slow down");
      case "503-retry-after-1":
        return res.writeHead(503, { "retry-after": "1" }).end();
      case "502":
      case "503":
      case "504":
      case "500":
        return res.writeHead(Number(step), { "content-type": "text/html", "retry-after": "0" }).end("<h1>proxy</h1>");
      case "unavailable": // a Connect error as hookd sends it
        return json(503, { code: "unavailable", message: "draining" }, { "retry-after": "0" });
      case "resource_exhausted":
        return json(429, { code: "resource_exhausted", message: "rate limited" }, { "retry-after": "0" });
      case "invalid_argument":
        return json(400, { code: "invalid_argument", message: "name: required" });
      case "internal":
        return json(500, { code: "internal", message: "internal error" });
      default:
        throw new Error(`unknown step ${step}`);
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

const get = (c) => c.integrations.getIntegration({ id: "int_1" });
const create = (c) => c.integrations.createIntegration({ name: "a", baseUrl: "http://127.0.0.1:9" });
const publish = (key) => (c) => c.events.publishEvent({ eventType: "a.b", idempotencyKey: key });
const publishBatch = (...keys) => (c) => c.events.publishEvents({ events: keys.map((k) => ({ eventType: "a.b", idempotencyKey: k })) });

const fast = { retryWaitMinMs: 1, retryWaitMaxMs: 20 };
const cases = [
  { name: "get 503 then 200", script: ["503"], call: get, requests: 2 },
  { name: "get 502 504 then 200", script: ["502", "504"], call: get, requests: 3 },
  { name: "get network error then 200", script: ["drop"], call: get, requests: 2 },
  { name: "get 429 retry-after capped", script: ["429-long"], call: get, requests: 2 },
  { name: "get connect unavailable then 200", script: ["unavailable"], call: get, requests: 2 },
  { name: "get connect resource_exhausted (429) then 200", script: ["resource_exhausted"], call: get, requests: 2 },
  { name: "get 400 not retried", script: ["invalid_argument"], call: get, code: Code.InvalidArgument, requests: 1 },
  { name: "get 500 not retried", script: ["500"], call: get, code: Code.Unknown, requests: 1 },
  { name: "get internal not retried", script: ["internal"], call: get, code: Code.Internal, requests: 1 },
  { name: "get gives up after retryMax", script: ["503", "503", "503", "503"], opts: { retryMax: 2 }, call: get, code: Code.Unavailable, requests: 3 },
  { name: "retries disabled", script: ["503"], opts: { retryMax: 0 }, call: get, code: Code.Unavailable, requests: 1 },
  { name: "create 503 not retried", script: ["503"], call: create, code: Code.Unavailable, requests: 1 },
  { name: "create network error not retried", script: ["drop"], call: create, code: Code.Unknown, requests: 1 },
  { name: "publish with idempotency key retried", script: ["503"], call: publish("order-1"), requests: 2 },
  { name: "publish without idempotency key not retried", script: ["503"], call: publish(""), code: Code.Unavailable, requests: 1 },
  { name: "publish batch all keyed retried", script: ["502"], call: publishBatch("a", "b"), requests: 2 },
  { name: "publish batch one unkeyed not retried", script: ["502"], call: publishBatch("a", ""), code: Code.Unavailable, requests: 1 },
];

for (const tc of cases) {
  test(`retry: ${tc.name}`, async (t) => {
    const srv = await startScripted(tc.script);
    t.after(srv.close);
    const client = createHookdClient({ baseUrl: srv.url, apiKey: "hk_test", ...fast, ...tc.opts });
    const start = Date.now();
    const outcome = await tc.call(client).then(
      () => undefined,
      (err) => err,
    );
    if (tc.code === undefined) {
      assert.equal(outcome, undefined, String(outcome));
    } else {
      assert.ok(outcome instanceof ConnectError, String(outcome));
      assert.equal(outcome.code, tc.code, String(outcome));
    }
    assert.equal(srv.requests.length, tc.requests);
    assert.ok(Date.now() - start < 5000, "Retry-After must be capped");
    for (const r of srv.requests) assert.equal(r.auth, "Bearer hk_test");
  });
}

test("retry: Retry-After is honoured", async (t) => {
  const srv = await startScripted(["503-retry-after-1"]);
  t.after(srv.close);
  const client = createHookdClient({ baseUrl: srv.url, apiKey: "hk_test", retryWaitMinMs: 1, retryWaitMaxMs: 5000 });
  const start = Date.now();
  await get(client);
  const waited = Date.now() - start;
  assert.equal(srv.requests.length, 2);
  assert.ok(waited >= 950 && waited < 4000, `waited ${waited} ms for Retry-After: 1`);
});

test("retry: a custom transport (gRPC-Web) is retried too", async (t) => {
  const srv = await startScripted(["503", "503", "503", "503"]);
  t.after(srv.close);
  const client = createHookdClient({
    apiKey: "hk_test",
    transport: createGrpcWebTransport({ baseUrl: srv.url }),
    retryMax: 2,
    ...fast,
  });
  await assert.rejects(get(client), (err) => err instanceof ConnectError && err.code === Code.Unavailable);
  assert.equal(srv.requests.length, 3);
  assert.deepEqual(srv.requests.map((r) => r.auth), ["Bearer hk_test", "Bearer hk_test", "Bearer hk_test"]);
  await assert.rejects(create(client), (err) => err instanceof ConnectError && err.code === Code.Unavailable);
  assert.equal(srv.requests.length, 4, "a create is sent once");
});

test("timeout: a call that hangs ends with deadline_exceeded", async (t) => {
  const srv = await startScripted(["hang"]);
  t.after(srv.close);
  const client = createHookdClient({ baseUrl: srv.url, apiKey: "hk_test", timeoutMs: 100 });
  const start = Date.now();
  await assert.rejects(get(client), (err) => err instanceof ConnectError && err.code === Code.DeadlineExceeded);
  assert.equal(srv.requests.length, 1, "a timed-out call is not retried");
  assert.ok(Date.now() - start < 3000);
});

test("timeout: the deadline bounds the retries", async (t) => {
  const srv = await startScripted(Array(1000).fill("503"));
  t.after(srv.close);
  const client = createHookdClient({ baseUrl: srv.url, apiKey: "hk_test", timeoutMs: 300, retryMax: 1000, retryWaitMinMs: 20, retryWaitMaxMs: 40 });
  const start = Date.now();
  await assert.rejects(get(client), (err) => err instanceof ConnectError && err.code === Code.DeadlineExceeded);
  const took = Date.now() - start;
  assert.ok(took >= 290 && took < 3000, `took ${took} ms`);
  assert.ok(srv.requests.length > 1, "retried until the deadline");
});

test("timeout: a call's own timeoutMs wins over the default", async (t) => {
  const srv = await startScripted(["hang"]);
  t.after(srv.close);
  const client = createHookdClient({ baseUrl: srv.url, apiKey: "hk_test", timeoutMs: 60_000 });
  await assert.rejects(client.integrations.getIntegration({ id: "int_1" }, { timeoutMs: 100 }), (err) => err.code === Code.DeadlineExceeded);
});

test("cancel: an aborted call stops retrying", async (t) => {
  const srv = await startScripted(Array(1000).fill("503"));
  t.after(srv.close);
  const client = createHookdClient({ baseUrl: srv.url, apiKey: "hk_test", retryMax: 1000, retryWaitMinMs: 20, retryWaitMaxMs: 40 });
  const ac = new AbortController();
  let abortedAt = 0;
  setTimeout(() => {
    abortedAt = Date.now();
    ac.abort();
  }, 150);
  await assert.rejects(client.integrations.getIntegration({ id: "int_1" }, { signal: ac.signal }), (err) => err.code === Code.Canceled);
  assert.ok(abortedAt > 0 && Date.now() - abortedAt < 1000, "the call ends when it is aborted, not when the retries run out");
  assert.ok(srv.requests.length > 1 && srv.requests.length < 1000);
});

test("isRetryableCall: every hookd.v1 RPC the client retries, from the protos' idempotency_level", () => {
  const services = [ActionStatusService, ApiKeyService, DeliveryService, EventService, EventTypeService, IntegrationService, ProjectService, SubscriptionService, TriggerService, WebhookService];
  const retried = [];
  let total = 0;
  for (const s of services) {
    for (const m of s.methods) {
      total++;
      if (isRetryableCall(m, undefined)) retried.push(`${s.name}/${m.name}`);
    }
  }
  assert.deepEqual(retried.sort(), [
    "ApiKeyService/GetCurrentApiKey",
    "ApiKeyService/ListApiKeys",
    "DeliveryService/GetDelivery",
    "DeliveryService/ListDeliveries",
    "EventService/GetEvent",
    "EventService/ListEvents",
    "EventTypeService/GetEventType",
    "EventTypeService/ListEventTypes",
    "IntegrationService/GetIntegration",
    "IntegrationService/ListIntegrations",
    "ProjectService/GetProject",
    "ProjectService/ListProjects",
    "SubscriptionService/GetSubscription",
    "SubscriptionService/ListSubscriptions",
    "SubscriptionService/TestSubscriptionFilter",
    "TriggerService/GetExecution",
    "TriggerService/GetTrigger",
    "TriggerService/ListExecutions",
    "TriggerService/ListTriggers",
    "WebhookService/GetWebhook",
    "WebhookService/GetWebhookStats",
    "WebhookService/ListWebhooks",
    "WebhookService/RenderWebhookBody",
  ]);
  assert.ok(total > retried.length + 20);
});

test("isRetryableCall: table", () => {
  const m = EventService.method;
  const fake = (idempotency, methodKind = "unary") => ({ idempotency, methodKind, name: "PutThing", parent: { typeName: "hookd.v1.ExampleService" } });
  const table = [
    ["no side effects", IntegrationService.method.getIntegration, {}, true],
    ["idempotent", fake(MethodOptions_IdempotencyLevel.IDEMPOTENT), {}, true],
    ["unknown level", fake(MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN), {}, false],
    ["stream marked no side effects", fake(MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS, "server_streaming"), {}, false],
    ["create", WebhookService.method.createWebhook, {}, false],
    ["retry deliveries", DeliveryService.method.retryDeliveries, {}, false],
    ["export (stream)", DeliveryService.method.exportDeliveries, {}, false],
    ["publish with key", m.publishEvent, { idempotencyKey: "k" }, true],
    ["publish without key", m.publishEvent, { idempotencyKey: "" }, false],
    ["batch all keyed", m.publishEvents, { events: [{ idempotencyKey: "a" }, { idempotencyKey: "b" }] }, true],
    ["batch one unkeyed", m.publishEvents, { events: [{ idempotencyKey: "a" }, { idempotencyKey: "" }] }, false],
    ["empty batch", m.publishEvents, { events: [] }, false],
  ];
  for (const [name, method, msg, want] of table) {
    assert.equal(isRetryableCall(method, msg), want, name);
  }
});
