// The console in a real browser against a real hookd: Debian's chromium driven by playwright-core (never a
// downloaded browser), `hookd serve --dev` built from this tree (the console embedded from
// internal/console/dist) and a loopback receiver. Screenshots of every screen go to console/artifacts/.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createHookdClient, Role } from "@hookd/client";
import { startHookd } from "../../sdk/typescript/test/hookd.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.CONSOLE_ARTIFACTS || join(here, "..", "artifacts");
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

let hookd, receiver, received, browser, api, viewerKey;
const requests = []; // every URL the pages requested

before(async () => {
  await mkdir(artifacts, { recursive: true });
  received = [];
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json", "x-receiver": "console-test" }).end('{"ok":true}');
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  hookd = await startHookd();
  api = createHookdClient({ baseUrl: hookd.url, apiKey: hookd.apiKey });
  viewerKey = (await api.apiKeys.createApiKey({ name: "viewer", role: Role.VIEWER })).key;
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await hookd?.stop();
  await new Promise((r) => receiver?.close(r) ?? r());
});

/** A fresh browser context (cold cache, empty sessionStorage) whose requests are recorded. */
async function newPage(viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.on("request", (r) => requests.push(r.url()));
  page.inFlight = new Set();
  page.on("request", (r) => !r.url().includes("/WatchDeliveries") && page.inFlight.add(r));
  page.on("requestfinished", (r) => page.inFlight.delete(r));
  page.on("requestfailed", (r) => page.inFlight.delete(r));
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // API errors the test provokes log "Failed to load resource"; anything else is a bug.
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
  page.errors = errors;
  return page;
}

async function signIn(page, key) {
  await page.goto(hookd.url + "/");
  const input = page.getByLabel("API key");
  await input.focus();
  await page.keyboard.type(key);
  await page.keyboard.press("Enter"); // keyboard only
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

// settled waits until the page has no request in flight for 300 ms, the live stream (WatchDeliveries, open for
// as long as the page shows the log) aside: what "networkidle" means for a page without a stream.
async function settled(page, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (page.inFlight.size === 0) {
      await page.waitForTimeout(300);
      if (page.inFlight.size === 0) return;
    }
    if (Date.now() > deadline) throw new Error(`requests still in flight: ${[...page.inFlight].map((r) => r.url())}`);
    await page.waitForTimeout(50);
  }
}

async function shot(page, name) {
  await settled(page).catch(() => {});
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

const nav = (page, name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
const byText = (page, text) => page.getByText(text, { exact: false }).first();

test("console: sign in, configure, test, watch the log, resend", async () => {
  const page = await newPage();

  // Cold load of the sign-in page (empty cache, loopback), by the browser's clock: navigation start until the
  // sign-in form has rendered.
  await page.goto(hookd.url + "/");
  await page.getByLabel("API key").waitFor();
  const timing = await page.evaluate(() => ({
    ready: performance.getEntriesByName("hookd-console-ready")[0]?.startTime,
    load: performance.getEntriesByType("navigation")[0].loadEventEnd,
    bytes: performance.getEntriesByType("resource").reduce((n, r) => n + r.transferSize, 0),
  }));
  console.log(`cold load: sign-in form rendered ${Math.round(timing.ready)} ms after navigation start (load event ${Math.round(timing.load)} ms, ${timing.bytes} bytes of assets)`);
  assert.ok(timing.ready < 1000, `cold load took ${timing.ready} ms`);
  await shot(page, "00-sign-in");

  // The key is never put in a URL; a wrong key says so next to the field.
  await page.getByLabel("API key").fill("hk_wrong");
  await page.getByRole("button", { name: "Sign in" }).click();
  await byText(page, "unknown API key").waitFor();
  await page.getByLabel("API key").fill("");
  await signIn(page, hookd.apiKey);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("hookd.apiKey")), hookd.apiKey);
  await shot(page, "01-integrations-empty");

  // Event type with a sample payload.
  await nav(page, "Event types").click();
  await page.getByRole("link", { name: "Add event type" }).click();
  await page.getByLabel("Name", { exact: true }).fill("order.paid");
  await page.getByLabel("Sample payload").fill('{"email": "ada@example.com", "total": 42}');
  await page.getByLabel("JSON Schema").fill("{not json");
  await page.getByRole("button", { name: "Create event type" }).click();
  await byText(page, "is not valid JSON").waitFor(); // the error under the schema field
  await page.getByLabel("JSON Schema").fill("");
  await page.getByRole("button", { name: "Create event type" }).click();
  await page.waitForURL(/\/event-types\/order\.paid$/);
  await shot(page, "02-event-type");

  // Integration with a private header.
  const base = `http://127.0.0.1:${receiver.address().port}`;
  await nav(page, "Integrations").click();
  await page.getByRole("link", { name: "Add integration" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Receiver");
  await page.getByLabel("URL", { exact: true }).fill(base + "/api/");
  await page.getByLabel("Requests per second").fill("5");
  await page.getByRole("button", { name: "+ Add header" }).click();
  await page.getByLabel("Headers 1 name").fill("Authorization");
  await page.getByLabel("Headers 1 value").fill("Bearer s3cret");
  await page.getByLabel("Private").check();
  await page.getByRole("button", { name: "Create integration" }).click();
  await page.waitForURL(/\/integrations\/int_/);
  await shot(page, "03-integration");

  // Webhook under it: the URL view follows the path as it is typed.
  await page.getByRole("link", { name: "Add webhook" }).click();
  await page.waitForURL(/\/webhooks\/new\?integration=int_/);
  const urlView = page.getByTestId("url-view");
  await page.getByLabel("Integration").waitFor();
  await page.waitForFunction(() => document.querySelector("[data-testid=url-view]")?.textContent?.includes("/api/"));
  assert.equal((await urlView.textContent()).trim(), `POST ${base}/api/`);
  const path = page.getByLabel("URL path");
  await path.click();
  await page.keyboard.type("ord");
  assert.equal((await urlView.textContent()).trim(), `POST ${base}/api/ord`);
  await page.keyboard.type("ers?key={{.TransactionalId}}");
  assert.equal((await urlView.textContent()).trim(), `POST ${base}/api/orders?key={{.TransactionalId}}`);
  await page.getByLabel("Method").selectOption("PUT");
  assert.equal((await urlView.textContent()).trim(), `PUT ${base}/api/orders?key={{.TransactionalId}}`);
  await page.getByLabel("Method").selectOption("POST");
  await page.getByLabel("Name", { exact: true }).fill("Orders");
  await page.getByLabel("System name").fill("orders");

  // Body template: the preview is rendered by the server on the sample payload; errors show under the field.
  await page.getByLabel("Preview with event type").selectOption("order.paid");
  await page.getByLabel("Body template").fill('{"to": {{json .Data.email}}, "total": {{.Data.total}}, "key": "{{.TransactionalId}}"');
  await page.getByTestId("preview-body").filter({ hasText: '"to": "ada@example.com"' }).waitFor();
  assert.match(await page.getByTestId("preview-body").textContent(), /"total": 42, "key": "dlv_preview"/);
  await page.getByLabel("Body template").fill('{"to": {{json .Data.email}');
  await page.locator(".field.invalid", { hasText: "Body template" }).getByRole("alert").filter({ hasText: "parse template" }).waitFor();
  await shot(page, "04-webhook-template-error");
  await page.getByLabel("Body template").fill('{"to": {{json .Data.email}}, "total": {{.Data.total}}, "key": "{{.TransactionalId}}"}');
  await page.getByTestId("preview-body").filter({ hasText: "dlv_preview" }).waitFor();
  await page.getByLabel("Retry policy").selectOption({ label: "Fixed interval" });
  await page.getByLabel("Retry every (s)").fill("10");
  await page.getByLabel("Max retries").fill("3");
  await page.getByRole("button", { name: "Create webhook" }).click();
  await page.waitForURL(/\/webhooks\/wh_/);
  const webhookId = page.url().split("/").pop();
  // Inherited header: private and shown to ADMIN only on request.
  await byText(page, "Inherited from Receiver").waitFor();
  assert.equal(await page.getByText("Bearer s3cret").count(), 0);
  await shot(page, "05-webhook-editor");

  // Test: the receiver's status, headers and body.
  await page.getByRole("button", { name: "Test", exact: true }).click();
  const result = page.getByTestId("test-result");
  await result.waitFor();
  assert.match(await result.textContent(), /Response\s*200/);
  assert.match(await result.textContent(), /\{"ok":true\}/);
  assert.equal(received.length, 1);
  assert.equal(received[0].url, `/api/orders?key=${received[0].headers["webhook-id"]}`);
  assert.equal(received[0].headers.authorization, "Bearer s3cret");
  assert.equal(JSON.parse(received[0].body).to, "ada@example.com");
  await shot(page, "06-webhook-test");

  // Subscription through the UI.
  await nav(page, "Subscriptions").click();
  await byText(page, "No subscriptions").waitFor();
  await page.getByRole("button", { name: "Add subscription" }).click();
  await page.getByLabel("Webhook", { exact: true }).last().selectOption(webhookId);
  await page.getByRole("form", { name: "New subscription" }).getByText("order.paid").click();
  await page.getByRole("button", { name: "Create subscription" }).click();
  await page.locator("td", { hasText: "order.paid" }).waitFor();
  await shot(page, "07-subscriptions");

  // Logs: an event published through the API appears within 2 s, without reloading.
  await nav(page, "Logs").click();
  await byText(page, "No deliveries yet").waitFor();
  await page.waitForFunction(() => /^\s*Live\s*$/.test(document.querySelector(".live")?.textContent ?? "")); // streaming, not polling
  const loads = [];
  page.on("framenavigated", (f) => f === page.mainFrame() && loads.push(f.url()));
  const published = Date.now();
  const pub = await api.events.publishEvent({ eventType: "order.paid", subject: "cus_42", payload: { email: "grace@example.com", total: 7 } });
  const deliveryId = pub.deliveryIds[0];
  await page.locator(`tr[data-delivery="${deliveryId}"]`).waitFor({ timeout: 2000 });
  console.log(`published event listed in Logs after ${Date.now() - published} ms (${await page.locator(".live").textContent()})`);
  assert.deepEqual(loads, [], "the page did not reload");
  await page.locator(`tr[data-delivery="${deliveryId}"]`, { hasText: "Done" }).waitFor({ timeout: 10_000 });
  await shot(page, "08-logs");

  // Filters narrow the log (and live in the URL, never the key).
  await page.getByLabel("Customer").fill("cus_nobody");
  await page.getByLabel("Customer").press("Enter");
  await byText(page, "No deliveries match these filters").waitFor();
  assert.match(page.url(), /subject=cus_nobody/);
  await page.getByRole("button", { name: "Clear filters" }).click();
  await page.locator(`tr[data-delivery="${deliveryId}"]`).waitFor();

  // Its attempt, with request and response; resend it.
  await page.getByRole("link", { name: `Delivery ${deliveryId}` }).click();
  await page.waitForURL(new RegExp(`/logs/${deliveryId}$`));
  const attempt = page.locator("details.attempt").first();
  await attempt.waitFor();
  assert.match(await attempt.textContent(), /Attempt 1/);
  assert.match(await attempt.textContent(), /grace@example\.com/);
  assert.match(await attempt.textContent(), /\{"ok":true\}/);
  assert.match(await attempt.textContent(), /authorization\s*Bearer s3cret/i, "ADMIN keys see private values");
  await shot(page, "09-delivery");
  await page.getByRole("button", { name: "Resend" }).click();
  await byText(page, "Queued for resending").waitFor();
  await page.locator("details.attempt summary", { hasText: "Attempt 2" }).waitFor({ timeout: 10_000 });
  assert.equal(received.filter((r) => r.headers["webhook-id"] === deliveryId).length, 2);

  // Bulk resend of the current filter says how many first.
  await page.goto(hookd.url + `/logs?status=done&webhook=${webhookId}`);
  await page.getByRole("button", { name: "Resend…" }).click();
  assert.equal(await page.getByTestId("resend-count").textContent(), "1");
  await shot(page, "10-bulk-resend");
  await page.getByRole("button", { name: "Cancel" }).click();

  // Export of the current filter: streamed with ExportDeliveries (Authorization header), saved from a Blob.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  assert.match(download.suggestedFilename(), /^hookd-deliveries-.*\.csv$/);
  const csv = await new Promise(async (resolve, reject) => {
    const chunks = [];
    const stream = await download.createReadStream();
    stream.on("data", (c) => chunks.push(c)).on("end", () => resolve(Buffer.concat(chunks).toString())).on("error", reject);
  });
  const lines = csv.trim().split("\n");
  assert.equal(lines.length, 2, csv); // the header row and the one DONE delivery of the webhook
  assert.match(lines[1], new RegExp(deliveryId));

  // Queue, customer, health, triggers, keys and projects render.
  await nav(page, "Queue").click();
  await byText(page, "The queue is empty").waitFor();
  await shot(page, "11-queue");
  await page.goto(hookd.url + "/customers/cus_42");
  await page.locator(`tr[data-delivery="${deliveryId}"]`).waitFor();
  await shot(page, "12-customer");
  await page.goto(hookd.url + `/webhooks/${webhookId}`);
  await page.locator(".health").waitFor();
  await page.waitForFunction(() => !/Loading statistics/.test(document.querySelector(".health")?.textContent ?? "Loading statistics"));
  await nav(page, "Triggers").click();
  await page.getByRole("link", { name: "Add trigger" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Inbound orders");
  await page.getByRole("button", { name: "Create trigger" }).click();
  await page.waitForURL(/\/triggers\/trg_/);
  const triggerUrl = await page.locator(".trigger-url .mono").first().textContent();
  const inbound = await fetch(triggerUrl, { method: "POST", headers: { "content-type": "application/json" }, body: '{"email":"x@example.com","total":1}' });
  assert.equal(inbound.status, 200);
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.locator("td a", { hasText: /\d{4}-\d\d-\d\d/ }).first().click();
  await byText(page, "x@example.com").waitFor();
  await shot(page, "13-trigger-execution");
  await nav(page, "API keys").click();
  await page.locator("td", { hasText: "viewer" }).first().waitFor();
  await shot(page, "14-api-keys");
  await nav(page, "Projects").click();
  await page.locator("td", { hasText: "default" }).first().waitFor();
  await shot(page, "15-projects");

  // A phone screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(hookd.url + "/logs");
  await page.locator(`tr[data-delivery="${deliveryId}"]`).waitFor();
  await shot(page, "16-logs-phone");
  await page.goto(hookd.url + `/webhooks/${webhookId}`);
  await page.getByTestId("url-view").waitFor();
  await shot(page, "17-webhook-phone");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the phone layout scrolls sideways by ${overflow}px`);

  assert.deepEqual(page.errors, []);
});

test("console: a VIEWER key sees no write control", async () => {
  const page = await newPage();
  await signIn(page, viewerKey);
  await byText(page, "Read-only").waitFor();
  const writes = /^(Add|Save|Create|Delete|Rotate|Resend|Test$|Copy webhook|Revoke|Re-enable|\+ Add)/;
  const webhooks = await api.webhooks.listWebhooks({});
  const webhookId = webhooks.webhooks[0].id;
  for (const path of ["/integrations", `/integrations/${webhooks.webhooks[0].integrationId}`, "/webhooks", `/webhooks/${webhookId}`,
    "/event-types", "/event-types/order.paid", "/subscriptions", "/logs", "/queue", "/triggers"]) {
    await page.goto(hookd.url + path);
    await page.locator("main h1").first().waitFor({ timeout: 5000 }).catch(async (e) => {
      await shot(page, "debug-viewer");
      throw new Error(`${path}: ${e.message}\n${await page.locator("body").textContent({ timeout: 1000 })}`);
    });
    await settled(page);
    const buttons = await page.locator("main button, main a.button").allTextContents();
    const offending = buttons.map((b) => b.trim()).filter((b) => writes.test(b));
    assert.deepEqual(offending, [], `${path} shows write controls to a VIEWER`);
    const editable = await page.locator("main form input:not([type=checkbox]):not([type=search]):not([readonly]), main form textarea:not([readonly])").count();
    const enabledChecks = await page.locator("main form:not([role=search]) input[type=checkbox]:not([disabled])").count();
    assert.equal(editable + enabledChecks, 0, `${path} has editable fields for a VIEWER`);
  }
  // Private values read as ******** for keys that are not ADMIN: the inherited header, the attempt's request.
  await page.goto(hookd.url + `/webhooks/${webhookId}`);
  await page.locator(".header-row.inherited", { hasText: "Authorization" }).filter({ hasText: "********" }).waitFor();
  const deliveries = await api.deliveries.listDeliveries({ filter: { webhookId } });
  await page.goto(hookd.url + `/logs/${deliveries.deliveries[0].id}`);
  const attempt = page.locator("details.attempt").first();
  await attempt.waitFor();
  assert.match(await attempt.textContent(), /authorization\s*\*{8}/i);
  assert.doesNotMatch(await attempt.textContent(), /s3cret/);
  await page.goto(hookd.url + `/webhooks/${webhookId}`);
  await byText(page, "Test sends need a MEMBER or ADMIN key").waitFor();
  await byText(page, "Only ADMIN keys can read the secret").waitFor();
  await shot(page, "20-viewer-webhook");
  assert.deepEqual(page.errors, []);
});

test("console: no request leaves the origin", () => {
  const origin = new URL(hookd.url).origin;
  const foreign = requests.filter((u) => !u.startsWith("blob:") && new URL(u).origin !== origin);
  assert.ok(requests.length > 20, `only ${requests.length} requests recorded`);
  assert.deepEqual(foreign, []);
  for (const u of requests) assert.ok(!u.includes(hookd.apiKey) && !u.includes(viewerKey), `a key in a URL: ${u}`);
});
