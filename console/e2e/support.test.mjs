// Issue 27 (what a support person missed), in a real browser against a real hookd on both backends (embedded
// SQLite, and PostgreSQL at 127.0.0.1:5432 when it answers): trigger options, the live queue with its row
// actions, recent customers, time zones and the Events page, editing subscriptions on the webhook page, the body
// preview on a subscribed event type (for VIEWERs too), the key prefix, the phone layout, confirmations and the
// health of a webhook whose deliveries all retry. Screenshots go to console/artifacts/support-<backend>-*.png.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createHookdClient, RetryPolicyKind, Role, SignatureScheme } from "@hookd/client";
import { startHookd } from "../../sdk/typescript/test/hookd.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.CONSOLE_ARTIFACTS || join(here, "..", "artifacts");
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const PG = process.env.HOOKD_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432";

let browser, receiver;
const received = [];

before(async () => {
  await mkdir(artifacts, { recursive: true });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ url: req.url, headers: req.headers, body });
      if (req.url.startsWith("/fail")) res.writeHead(500).end("down");
      else res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  browser = await chromium.launch({ executablePath, args: ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => receiver?.close(r) ?? r());
});

/** A fresh PostgreSQL database, or undefined when PostgreSQL does not answer. */
function freshPostgres() {
  const name = "hookd_console_" + randomBytes(6).toString("hex");
  try {
    execFileSync("psql", [PG + "/postgres", "-qc", `CREATE DATABASE ${name}`], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  return { url: `${PG}/${name}?sslmode=disable`, drop: () => execFileSync("psql", [PG + "/postgres", "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: "ignore" }) };
}

async function newPage(viewport = { width: 1280, height: 900 }) {
  const ctx = await browser.newContext({ viewport, timezoneId: "Europe/Berlin" });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
  page.on("dialog", (d) => void d.accept());
  page.errors = errors;
  return page;
}

async function signIn(page, url, key) {
  await page.goto(url + "/");
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

const byText = (page, text) => page.getByText(text, { exact: false }).first();

async function scenario(backend, options) {
  const hookd = await startHookd(options);
  const shot = async (page, name) => {
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(artifacts, `support-${backend}-${name}.png`), fullPage: true });
  };
  try {
    const api = createHookdClient({ baseUrl: hookd.url, apiKey: hookd.apiKey });
    const viewerKey = (await api.apiKeys.createApiKey({ name: "support viewer", role: Role.VIEWER })).key;
    const base = `http://127.0.0.1:${receiver.address().port}`;
    await api.eventTypes.createEventType({ name: "order.paid", samplePayload: { total: 1 } });
    await api.eventTypes.createEventType({ name: "order.refunded", samplePayload: { refund: 5 } });
    const integ = (await api.integrations.createIntegration({ name: "Shop", baseUrl: base + "/" })).integration;
    const ok = (await api.webhooks.createWebhook({
      integrationId: integ.id, name: "Refunds", path: "ok", bodyTemplate: '{"r": {{json .Data}}}',
    })).webhook;
    const failing = (await api.webhooks.createWebhook({
      integrationId: integ.id, name: "Flaky", path: "fail",
      retryPolicy: { kind: RetryPolicyKind.FIXED, interval: { seconds: 3600n, nanos: 0 }, maxRetries: 5 },
    })).webhook;
    const sub = (await api.subscriptions.createSubscription({ webhookId: ok.id, eventTypes: ["order.refunded"] })).subscription;
    await api.subscriptions.createSubscription({ webhookId: failing.id, eventTypes: ["order.paid"] });

    const page = await newPage();
    await signIn(page, hookd.url, hookd.apiKey);

    // 4. A trigger made through the API shows its response, routes, signature, body limit, drops and subject.
    const trg = (await api.triggers.createTrigger({
      name: "Payments in", eventType: "order.paid", response: { status: 201, contentType: "text/plain", body: "thanks" },
      routes: [{ header: "X-Kind", value: "refund", eventType: "order.refunded" }],
      signature: { scheme: SignatureScheme.HMAC_SHA256_TIMESTAMPED, secret: "s3cr3t-signing", header: "Stripe-Signature", timestampTolerance: { seconds: 120n, nanos: 0 }, signRequestTarget: true },
      maxBodyBytes: 4096n, dropHeaders: ["X-Internal"], dropQueryParameters: ["token"], subject: { header: "X-Customer" },
    })).trigger;
    await page.goto(hookd.url + "/triggers");
    const row = page.locator("tr", { hasText: "Payments in" });
    await row.waitFor();
    assert.match(await row.textContent(), /201 thanks/);
    assert.match(await row.textContent(), /1 route/);
    assert.match(await row.textContent(), /Timestamped HMAC-SHA256/);
    assert.match(await row.textContent(), /body ≤ 4096 B/);
    assert.match(await row.textContent(), /drops X-Internal, \?token/);
    await shot(page, "4-triggers");
    await page.goto(hookd.url + `/triggers/${trg.id}`);
    await page.getByLabel("Status", { exact: true }).waitFor();
    assert.equal(await page.getByLabel("Status", { exact: true }).inputValue(), "201");
    assert.equal(await page.getByLabel("Body", { exact: true }).inputValue(), "thanks");
    assert.equal(await page.getByLabel("Route 1 header").inputValue(), "X-Kind");
    assert.equal(await page.getByLabel("Route 1 value").inputValue(), "refund");
    assert.equal(await page.getByLabel("Route 1 event type").inputValue(), "order.refunded");
    assert.equal(await page.getByLabel("Scheme").inputValue(), String(SignatureScheme.HMAC_SHA256_TIMESTAMPED));
    assert.equal(await page.getByLabel("Header", { exact: true }).inputValue(), "Stripe-Signature");
    assert.equal(await page.getByLabel("Timestamp tolerance (seconds)").inputValue(), "120");
    assert.ok(await page.getByLabel(/sign_request_target/).isChecked());
    assert.equal(await page.getByLabel("Max body bytes").inputValue(), "4096");
    assert.equal(await page.getByLabel("Drop headers").inputValue(), "X-Internal");
    assert.equal(await page.getByLabel("Drop query parameters").inputValue(), "token");
    assert.equal(await page.getByLabel("Customer from header").inputValue(), "X-Customer");
    await shot(page, "4-trigger-editor");
    // Set in the console: the answer and a second route; the signature (not touched) is kept with its secret.
    await page.getByLabel("Body", { exact: true }).fill("merci");
    await page.getByRole("button", { name: "Add route" }).click();
    await page.getByLabel("Route 2 compares").selectOption("json");
    await page.getByLabel("Route 2 JSON field").fill("type");
    await page.getByLabel("Route 2 value").fill("paid");
    await page.getByLabel("Route 2 event type").selectOption("order.paid");
    await page.getByRole("button", { name: "Save" }).click();
    await byText(page, "Saved.").waitFor();
    const saved = (await api.triggers.getTrigger({ id: trg.id })).trigger;
    assert.equal(saved.response.body, "merci");
    assert.equal(saved.routes.length, 2);
    assert.equal(saved.routes[1].jsonField, "type");
    assert.equal(saved.signature.scheme, SignatureScheme.HMAC_SHA256_TIMESTAMPED);
    assert.equal(saved.signature.secret, "s3cr3t-signing");
    // A new trigger with a custom answer, made in the console, answers with it; creating confirms.
    await page.goto(hookd.url + "/triggers/new");
    await page.getByLabel("Name", { exact: true }).fill("Plain in");
    await page.getByLabel("Status", { exact: true }).fill("202");
    await page.getByLabel("Body", { exact: true }).fill("got it");
    await page.getByRole("button", { name: "Create trigger" }).click();
    await page.waitForURL(/\/triggers\/trg_/);
    await byText(page, 'Trigger "Plain in" created').waitFor();
    const plainUrl = await page.locator(".trigger-url .mono").first().textContent();
    const answer = await fetch(plainUrl, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.equal(answer.status, 202);
    assert.equal(await answer.text(), "got it");
    await shot(page, "9-created-confirmation");

    // 10. A webhook whose deliveries all retry: the health reports the failing attempts, not "no deliveries".
    const flaky = await api.events.publishEvent({ eventType: "order.paid", subject: "cus_alpha", payload: { total: 3 } });
    const flakyId = flaky.deliveryIds[0];
    const deadline = Date.now() + 15_000;
    for (;;) {
      const d = (await api.deliveries.getDelivery({ id: flakyId })).delivery;
      if (d.attempts >= 1) break;
      assert.ok(Date.now() < deadline, "the first attempt did not happen");
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.goto(hookd.url + `/webhooks/${failing.id}`);
    await page.locator(".health").filter({ hasText: /Failed attempts \(24 h\)\s*1 of 1 \(100\.0 %\)/ }).waitFor();
    assert.doesNotMatch(await page.locator(".health").textContent(), /Last success · failure\s*never · never/);
    await shot(page, "10-health-retrying");
    await page.goto(hookd.url + "/webhooks");
    await page.locator("tr", { hasText: "Flaky" }).filter({ hasText: "no finished deliveries · 1 of 1 attempts failed" }).waitFor();

    // 5. The queue: live (a new delivery appears without Refresh), an integration column, send now and cancel.
    await page.goto(hookd.url + "/queue");
    await page.locator(".live").filter({ hasText: /Live/ }).waitFor();
    const qrow = page.locator("tr", { hasText: flakyId });
    await qrow.waitFor();
    assert.match(await qrow.textContent(), /Shop/); // the integration ("trusted site")
    const before = received.filter((r) => r.headers["webhook-id"] === flakyId).length;
    await qrow.getByRole("button", { name: `Send ${flakyId} now` }).click();
    await byText(page, `${flakyId} is due now`).waitFor();
    for (const until = Date.now() + 10_000; received.filter((r) => r.headers["webhook-id"] === flakyId).length <= before; ) {
      assert.ok(Date.now() < until, "send now did not send");
      await new Promise((r) => setTimeout(r, 100));
    }
    const second = await api.events.publishEvent({ eventType: "order.paid", subject: "cus_beta", payload: { total: 4 } });
    await page.locator("tr", { hasText: second.deliveryIds[0] }).waitFor({ timeout: 5000 }); // live, no click
    await shot(page, "5-queue");
    await page.locator("tr", { hasText: second.deliveryIds[0] }).getByRole("button", { name: `Cancel ${second.deliveryIds[0]}` }).click();
    await page.locator("tr", { hasText: second.deliveryIds[0] }).waitFor({ state: "detached" });
    assert.equal((await api.deliveries.getDelivery({ id: second.deliveryIds[0] })).delivery.status, 6 /* CANCELLED */);

    // 6. Customers: recent subjects, narrowed while typing; the Logs customer filter applies while typing.
    await api.events.publishEvent({ eventType: "order.refunded", subject: "cus_gamma", payload: { refund: 9 } });
    await page.goto(hookd.url + "/customers");
    const recent = page.getByRole("table", { name: "Recent customers" });
    await recent.locator("td", { hasText: "cus_gamma" }).waitFor();
    for (const s of ["cus_alpha", "cus_beta"]) await recent.locator("td", { hasText: s }).waitFor();
    await page.getByLabel("Customer (subject)").fill("alp");
    await page.waitForFunction(() => document.querySelectorAll("table[aria-label='Recent customers'] tbody tr").length === 1);
    await shot(page, "6-customers");
    await page.goto(hookd.url + "/logs");
    await page.getByLabel("Customer").click();
    await page.keyboard.type("cus_gamma"); // no Enter, no blur
    await page.waitForFunction(() => location.search.includes("subject=cus_gamma"), null, { timeout: 3000 });
    const gammaRow = page.locator("tbody tr").first();
    await gammaRow.filter({ hasText: "order.refunded" }).waitFor();
    await shot(page, "6-logs-customer-filter");

    // 7. Times carry their zone; the delivery's event is a link to the Events page.
    const gammaId = (await api.deliveries.listDeliveries({ filter: { subject: "cus_gamma" } })).deliveries[0].id;
    await page.goto(hookd.url + `/logs/${gammaId}`);
    await page.locator("details.attempt").first().waitFor();
    assert.match(await page.locator("main").textContent(), /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+[12]/); // Europe/Berlin
    await page.getByRole("link", { name: /^evt_/ }).click();
    await page.waitForURL(/\/events\/evt_/);
    await byText(page, '"refund": 9').waitFor();
    await page.locator(`tr[data-delivery="${gammaId}"]`).waitFor();
    await shot(page, "7-event");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Events", exact: true }).click();
    await page.locator("td", { hasText: "cus_gamma" }).waitFor();
    await shot(page, "7-events");

    // 8 and 9. The webhook page lists its subscriptions and edits them; the preview defaults to the subscribed
    // event type (not the newest).
    await page.goto(hookd.url + `/webhooks/${ok.id}`);
    await page.getByTestId("preview-body").filter({ hasText: /"refund": ?5/ }).waitFor();
    assert.equal(await page.getByLabel("Preview with event type").inputValue(), "order.refunded");
    await page.getByRole("button", { name: `Edit subscription ${sub.id}` }).click();
    await page.getByLabel("Only for subject").fill("cus_gamma");
    await page.getByLabel("Filter (CEL)").fill("data.refund > 1");
    await page.getByRole("button", { name: "Save subscription" }).click();
    await byText(page, "Subscription saved.").waitFor();
    await page.locator("td", { hasText: "data.refund > 1" }).waitFor();
    const edited = (await api.subscriptions.getSubscription({ id: sub.id })).subscription;
    assert.equal(edited.subjectFilter, "cus_gamma");
    assert.equal(edited.filter, "data.refund > 1");
    assert.deepEqual(edited.eventTypes, ["order.refunded"]);
    await shot(page, "8-webhook-subscriptions");

    // Recent features where they belong: a webhook's tenant (list and editor), the Logs tenant filter.
    const tenantHook = (await api.webhooks.createWebhook({ integrationId: integ.id, name: "Acme hook", path: "ok", tenantId: "acme" })).webhook;
    await page.goto(hookd.url + "/webhooks");
    await page.locator("tr", { hasText: "Acme hook" }).filter({ hasText: "tenant acme" }).waitFor();
    await page.goto(hookd.url + `/webhooks/${tenantHook.id}`);
    await page.getByLabel("Tenant").waitFor();
    assert.equal(await page.getByLabel("Tenant").inputValue(), "acme");
    await page.goto(hookd.url + "/logs");
    await page.getByLabel("Tenant").fill("acme");
    await page.getByLabel("Tenant").press("Enter");
    await page.waitForFunction(() => location.search.includes("tenant=acme"));
    await byText(page, "No deliveries match these filters").waitFor();

    // 9. The bootstrap key's prefix is explained, not "…".
    await page.goto(hookd.url + "/keys");
    await page.locator("tr", { hasText: "bootstrap" }).filter({ hasText: "not stored" }).waitFor();
    await shot(page, "9-keys");

    // 9. A VIEWER sees the rendered preview.
    const viewer = await newPage();
    await signIn(viewer, hookd.url, viewerKey);
    await viewer.goto(hookd.url + `/webhooks/${ok.id}`);
    await viewer.getByTestId("preview-body").filter({ hasText: '"r": {' }).waitFor();
    assert.equal(await viewer.getByText("The preview needs a MEMBER").count(), 0);
    await shot(viewer, "9-viewer-preview");
    assert.deepEqual(viewer.errors, []);
    await viewer.context().close();

    // 9. No screen scrolls sideways at phone width.
    const phone = await newPage({ width: 390, height: 844 });
    await signIn(phone, hookd.url, hookd.apiKey);
    for (const [name, path] of [["queue", "/queue"], ["trigger", `/triggers/${trg.id}`], ["customers", "/customers"], ["events", "/events"],
      ["delivery", `/logs/${gammaId}`], ["webhook", `/webhooks/${ok.id}`], ["subscriptions", "/subscriptions"], ["logs", "/logs"], ["keys", "/keys"]]) {
      await phone.goto(hookd.url + path);
      await phone.locator("main h1").first().waitFor();
      await phone.waitForTimeout(400);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) await shot(phone, `9-phone-${name}-overflow`);
      assert.ok(overflow <= 1, `${path} scrolls sideways by ${overflow}px at phone width`);
    }
    await phone.goto(hookd.url + `/triggers/${trg.id}`);
    await phone.getByLabel("Route 1 value").waitFor();
    await shot(phone, "9-phone-trigger");
    assert.deepEqual(phone.errors, []);
    await phone.context().close();
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await hookd.stop();
  }
}

test("support: SQLite", async () => {
  await scenario("sqlite", {});
});

test("support: PostgreSQL", async (t) => {
  const db = freshPostgres();
  if (!db) return t.skip("PostgreSQL does not answer at " + PG);
  try {
    await scenario("postgres", { databaseUrl: db.url });
  } finally {
    db.drop();
  }
});
