import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { verifyWebhook, parseWebhook, WebhookVerificationError } from "../dist/index.js";

// The published Standard Webhooks example vector.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const ts = 1614265330;
const body = '{"test": 2432232314}';
const good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const at = (s) => ({ now: new Date(s * 1000) });

// sign computes a signature with node:crypto, independently of the SDK's WebCrypto code.
function sign(sec, msgId, t, payload) {
  const key = Buffer.from(sec.replace(/^whsec_/, ""), "base64");
  return "v1," + createHmac("sha256", key).update(`${msgId}.${t}.${payload}`).digest("base64");
}
const headers = (sig, extra = {}) => ({ "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": sig, ...extra });
const other = "whsec_" + Buffer.from("another secret of 32 bytes......").toString("base64");

test("node:crypto reproduces the reference vector", () => {
  assert.equal(sign(secret, id, ts, body), good);
});

const valid = [
  ["reference vector", headers(good), body, at(ts)],
  ["Headers object", new Headers(headers(good)), body, at(ts)],
  ["Uint8Array body", headers(good), new TextEncoder().encode(body), at(ts)],
  ["ArrayBuffer body", headers(good), new TextEncoder().encode(body).buffer, at(ts)],
  ["upper-case header names", { "Webhook-Id": id, "Webhook-Timestamp": String(ts), "Webhook-Signature": good }, body, at(ts)],
  ["rotation: second signature matches", headers(`${sign(other, id, ts, body)} ${good}`), body, at(ts)],
  ["rotation: first signature matches", headers(`${good} ${sign(other, id, ts, body)}`), body, at(ts)],
  ["unknown versions ignored", headers(`v2,abc v1a,xyz ${good}`), body, at(ts)],
  ["exactly 5 minutes late", headers(good), body, at(ts + 300)],
  ["exactly 5 minutes early", headers(good), body, at(ts - 300)],
];
for (const [name, h, b, opts] of valid) {
  test(`valid: ${name}`, async () => {
    await verifyWebhook(secret, h, b, opts);
  });
}

test("valid: secret without whsec_ prefix", async () => {
  await verifyWebhook(secret.slice(6), headers(good), body, at(ts));
});

const invalid = [
  ["wrong secret", other, headers(good), body, at(ts), /no matching signature/],
  ["tampered body", secret, headers(good), '{"test": 2432232315}', at(ts), /no matching signature/],
  ["tampered id", secret, headers(good, { "webhook-id": "msg_other" }), body, at(ts), /no matching signature/],
  ["tampered timestamp", secret, headers(good, { "webhook-timestamp": String(ts + 1) }), body, at(ts), /no matching signature/],
  ["only v2", secret, headers(good.replace("v1,", "v2,")), body, at(ts), /no matching signature/],
  ["garbage signature", secret, headers("v1,!!!"), body, at(ts), /no matching signature/],
  ["too old", secret, headers(good), body, at(ts + 301), /too old/],
  ["too new", secret, headers(good), body, at(ts - 301), /too new/],
  ["missing signature", secret, { "webhook-id": id, "webhook-timestamp": String(ts) }, body, at(ts), /missing/],
  ["bad timestamp", secret, headers(good, { "webhook-timestamp": "soon" }), body, at(ts), /invalid webhook-timestamp/],
];
for (const [name, sec, h, b, opts, re] of invalid) {
  test(`invalid: ${name}`, async () => {
    await assert.rejects(verifyWebhook(sec, h, b, opts), (err) => {
      assert.ok(err instanceof WebhookVerificationError, String(err));
      assert.match(err.message, re);
      return true;
    });
  });
}

test("default clock: now is checked", async () => {
  const now = Math.floor(Date.now() / 1000);
  await verifyWebhook(secret, headers(sign(secret, id, now, body), { "webhook-timestamp": String(now) }), body);
  await assert.rejects(
    verifyWebhook(secret, headers(sign(secret, id, now - 600, body), { "webhook-timestamp": String(now - 600) }), body),
    /too old/,
  );
});

test("a bad secret is a TypeError, not a verification failure", async () => {
  await assert.rejects(verifyWebhook("whsec_***", headers(good), body, at(ts)), TypeError);
});

test("parseWebhook returns the envelope", async () => {
  const env = JSON.stringify({ id: "evt_1", type: "user.created", timestamp: "2026-01-01T00:00:00Z", data: { a: 1 }, meta: { deliveryId: "dlv_1", attempt: 1, link: "" } });
  const e = await parseWebhook(secret, headers(sign(secret, id, ts, env)), env, at(ts));
  assert.equal(e.type, "user.created");
  assert.deepEqual(e.data, { a: 1 });
});
