// The tenants' portal in a real browser: a page on one loopback origin (http://localhost:<port>) embeds
// /portal/<session_id>#token=… of a hookd on another (http://127.0.0.1:<port>) in an iframe. The tenant adds an
// endpoint, subscribes it, sends a Test, sees a published event's delivery arrive live and resends it; the token
// never appears in a request URL; a session for another origin cannot be framed. Screenshots of each portal
// screen go to console/artifacts/portal-*.png.
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

let hookd, api, receiver, received, app, appOrigin, browser;
let framed = ""; // the portal URL the app page frames

before(async () => {
  await mkdir(artifacts, { recursive: true });
  received = [];
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ url: req.url, body });
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  app = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>Acme app</title><h1>Acme · Settings</h1>
      <iframe id="portal" title="Webhooks" src="${framed}" style="width:1100px;height:900px;border:1px solid #ccc"></iframe>`);
  });
  await new Promise((r) => app.listen(0, "localhost", r));
  appOrigin = `http://localhost:${app.address().port}`;
  hookd = await startHookd();
  api = createHookdClient({ baseUrl: hookd.url, apiKey: hookd.apiKey });
  await api.eventTypes.createEventType({
    name: "order.paid", description: "An order was paid.", samplePayload: { orderId: "ord_1", total: 42 },
  });
  await api.eventTypes.createEventType({ name: "internal.audit", description: "Not for customers." });
  browser = await chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
});

after(async () => {
  await browser?.close();
  await hookd?.stop();
  await new Promise((r) => receiver?.close(r) ?? r());
  await new Promise((r) => app?.close(r) ?? r());
});

test("a tenant manages its endpoints in the embedded portal", async () => {
  const s = await api.portal.createPortalSession({
    tenantId: "acme", role: Role.MEMBER, allowedOrigins: [appOrigin], eventTypes: ["order.paid"],
    title: "Acme · Webhooks", accentColor: "#0a7d4f",
  });
  assert.match(s.portalUrl, /\/portal\/ps_[^#]+#token=hps_/);
  framed = s.portalUrl;
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
  const page = await ctx.newPage();
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(appOrigin + "/");
  const portal = page.frameLocator("#portal");
  await portal.getByRole("heading", { name: "Acme · Webhooks" }).waitFor();
  assert.deepEqual(await portal.locator("[data-testid^=type-]").evaluateAll((els) => els.map((e) => e.dataset.testid)),
    ["type-order.paid"], "only the allow-list");

  // Add an endpoint subscribed to order.paid.
  await portal.getByTestId("endpoint-url").fill(`http://127.0.0.1:${receiver.address().port}/acme-hook`);
  await portal.getByTestId("type-order.paid").check();
  await portal.getByTestId("add-endpoint-submit").click();
  await portal.getByTestId("endpoint").waitFor();
  await portal.getByTestId("reveal").click();
  assert.match(await portal.getByTestId("secret").textContent(), /^whsec_/, "the tenant sees its signing secret");
  await page.screenshot({ path: join(artifacts, "portal-endpoints.png"), fullPage: true });

  // Test send.
  await portal.getByTestId("test").click();
  await portal.getByText("Your endpoint answered 200").waitFor();
  assert.ok(received.some((r) => r.url === "/acme-hook"), "the test reached the receiver");

  // Live log: a published event's delivery appears without a reload, then is resent.
  await portal.getByTestId("tab-logs").click();
  await portal.getByTestId("live").waitFor();
  const before = received.length;
  await api.events.publishEvent({ eventType: "order.paid", payload: { orderId: "ord_7", total: 7 }, tenantId: "acme" });
  await portal.getByTestId("log-status").filter({ hasText: "Succeeded" }).first().waitFor();
  assert.equal(received.length, before + 1);
  await portal.getByTestId("log-row").first().click();
  await portal.getByTestId("log-detail").getByText("Attempt 1").waitFor();
  await page.screenshot({ path: join(artifacts, "portal-logs.png"), fullPage: true });
  await portal.getByTestId("resend").click();
  for (let i = 0; i < 100 && received.length < before + 2; i++) await page.waitForTimeout(100);
  assert.equal(received.length, before + 2, "the resend reached the receiver");
  await portal.getByTestId("log-detail").getByText("Attempt 2").waitFor({ timeout: 15000 }).catch(async () => {
    await portal.getByTestId("log-row").first().click(); // the detail is read again on click
    await portal.getByTestId("log-detail").getByText("Attempt 2").waitFor();
  });
  await page.screenshot({ path: join(artifacts, "portal-resend.png"), fullPage: true });

  for (const u of urls) assert.ok(!u.includes(s.token) && !u.includes("hps_"), `token in a request URL: ${u}`);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("a session for another origin cannot be framed", async () => {
  const s = await api.portal.createPortalSession({ tenantId: "acme", allowedOrigins: ["https://elsewhere.example"] });
  framed = s.portalUrl;
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const blocked = new Promise((resolve) => page.on("console", (m) => /frame-ancestors/.test(m.text()) && resolve(true)));
  await page.goto(appOrigin + "/");
  assert.equal(await Promise.race([blocked, new Promise((r) => setTimeout(() => r(false), 10000))]), true,
    "Chromium refuses the frame (CSP frame-ancestors)");
  const frame = page.frames().find((f) => f !== page.mainFrame());
  await page.waitForTimeout(500);
  assert.equal(await frame.locator("[data-testid=tab-endpoints]").count(), 0, `no portal inside (${frame.url()})`);
  await page.screenshot({ path: join(artifacts, "portal-refused.png") });
  await ctx.close();
});
