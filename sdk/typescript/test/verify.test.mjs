import assert from "node:assert/strict";
import { createHmac, createPrivateKey, sign as nodeSign } from "node:crypto";
import { test } from "node:test";
import { verifyWebhook, parseWebhook, SignatureStyle, WebhookVerificationError } from "../dist/index.js";

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

// ed25519 (v1a, whpk_ public keys): vectors made with Go's crypto/ed25519 (sdk/go/verify_test.go:
// ed25519.NewKeyFromSeed of the 32-byte seeds, ed25519.Sign of "id.timestamp.body" above).
const edSeed = "hookd ed25519 test vector seed 1";
const edKey = "whpk_wYCjFOq+Df4lfvZ+ZZTCei5VIjokcso93NPh1nDYrSM=";
const edGood = "v1a,ho79GTfFJvxbyvzd9KjxMLh0bt+JEEDc0gT12qpbACqBnLMLQe3Vdch0BPXUcReBf83ytAtTB/uUhbEdteWRAA==";
const edOtherSeed = "hookd ed25519 test vector seed 2";
const edOtherKey = "whpk_SQp0qYMLHrPzZoZW+Rhr0TtVjKe93dYvIxpmH71IiIU=";
const edOther = "v1a,RShbonffWwvLLge7v2We3OxrsPHDhVOqIvf7Dv5nNnX12OLvcN636Nsqhk+oJjYMcxFQuyYLQqybKgr7DOjIDQ==";

// signEd25519 signs with node:crypto from the raw seed (PKCS#8 wrapping), independently of the SDK.
function signEd25519(seed, msgId, t, payload) {
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seed)]);
  const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  return "v1a," + nodeSign(null, Buffer.from(`${msgId}.${t}.${payload}`), key).toString("base64");
}

test("node:crypto reproduces the Go ed25519 vectors", () => {
  assert.equal(signEd25519(edSeed, id, ts, body), edGood);
  assert.equal(signEd25519(edOtherSeed, id, ts, body), edOther);
});

const edValid = [
  ["ed25519 vector", edKey, headers(edGood), body],
  ["ed25519 Headers object", edKey, new Headers(headers(edGood)), body],
  ["ed25519 Uint8Array body", edKey, headers(edGood), new TextEncoder().encode(body)],
  ["ed25519 rotation: second signature matches", edKey, headers(`${edOther} ${edGood}`), body],
  ["ed25519 beside an HMAC signature", edKey, headers(`${good} ${edGood}`), body],
  ["ed25519 other key's vector", edOtherKey, headers(edOther), body],
];
for (const [name, key, h, b] of edValid) {
  test(`valid: ${name}`, async () => {
    await verifyWebhook(key, h, b, at(ts));
  });
}

const edInvalid = [
  ["ed25519 wrong key", edOtherKey, headers(edGood), body, at(ts), /no matching signature/],
  ["ed25519 tampered body", edKey, headers(edGood), '{"test": 2432232315}', at(ts), /no matching signature/],
  ["ed25519 tampered id", edKey, headers(edGood, { "webhook-id": "msg_other" }), body, at(ts), /no matching signature/],
  ["ed25519 tampered timestamp", edKey, headers(edGood, { "webhook-timestamp": String(ts + 1) }), body, at(ts), /no matching signature/],
  ["ed25519 signature labelled v1", edKey, headers(edGood.replace("v1a,", "v1,")), body, at(ts), /no matching signature/],
  ["ed25519 truncated signature", edKey, headers(edGood.slice(0, 40)), body, at(ts), /no matching signature/],
  ["ed25519 too old", edKey, headers(edGood), body, at(ts + 301), /too old/],
  ["v1 signature, public key given", edKey, headers(good), body, at(ts), /no matching signature/],
  ["v1a signature, secret given", secret, headers(edGood), body, at(ts), /no matching signature/],
];
for (const [name, key, h, b, opts, re] of edInvalid) {
  test(`invalid: ${name}`, async () => {
    await assert.rejects(verifyWebhook(key, h, b, opts), (err) => {
      assert.ok(err instanceof WebhookVerificationError, String(err));
      assert.match(err.message, re);
      return true;
    });
  });
}

test("ed25519 with the default clock", async () => {
  const now = Math.floor(Date.now() / 1000);
  await verifyWebhook(edKey, headers(signEd25519(edSeed, id, now, body), { "webhook-timestamp": String(now) }), body);
});

test("a malformed public key (or the private whsk_ key) is a TypeError", async () => {
  for (const key of ["whpk_***", "whpk_" + Buffer.alloc(31).toString("base64"), "whsk_" + Buffer.alloc(64).toString("base64")]) {
    await assert.rejects(verifyWebhook(key, headers(edGood), body, at(ts)), TypeError, key);
  }
});

test("parseWebhook with a public key", async () => {
  const env = JSON.stringify({ id: "evt_1", type: "user.created", timestamp: "2026-01-01T00:00:00Z", data: { a: 1 }, meta: { deliveryId: "dlv_1", attempt: 1, link: "" } });
  const e = await parseWebhook(edKey, headers(signEd25519(edSeed, id, ts, env)), env, at(ts));
  assert.equal(e.id, "evt_1");
  await assert.rejects(parseWebhook(edOtherKey, headers(signEd25519(edSeed, id, ts, env)), env, at(ts)), WebhookVerificationError);
});

// One vector per signature style (the Go SDK's tests use the same values): the reference vector above under
// renamed headers, and the same body signed as GitHub signs it (HMAC-SHA256 keyed with the secret as shown, hex).
const hexBody = "sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c";
const renamed = { signatureHeader: "X-Sig", idHeader: "X-Id", timestampHeader: "X-Time" };
const github = { signatureHeader: "X-Hub-Signature-256", signatureStyle: SignatureStyle.HEX_BODY };

test("node:crypto reproduces the hex body vector", () => {
  assert.equal("sha256=" + createHmac("sha256", Buffer.from(secret)).update(body).digest("hex"), hexBody);
});

const styled = [
  ["standard, renamed headers", { "x-id": id, "X-Time": String(ts), "X-Sig": good }, body, renamed, true],
  ["standard, renamed headers in a Headers object", new Headers({ "x-id": id, "X-Time": String(ts), "X-Sig": good }), body, renamed, true],
  ["standard, renamed headers looked for under the old names", { "x-id": id, "X-Time": String(ts), "X-Sig": good }, body, {}, false],
  ["hex body", { "X-Hub-Signature-256": hexBody }, body, github, true],
  ["hex body during a rotation", { "x-hub-signature-256": `sha256=${"0".repeat(64)} ${hexBody}` }, body, github, true],
  ["hex body, tampered body", { "X-Hub-Signature-256": hexBody }, '{"test": 1}', github, false],
  ["hex body, missing", {}, body, github, false],
  ["hex body signature checked as standard", { "x-id": id, "X-Time": String(ts), "X-Sig": hexBody }, body, renamed, false],
];
for (const [name, h, b, opts, ok] of styled) {
  test(`signature style: ${name}`, async () => {
    const p = verifyWebhook(secret, h, b, { ...at(ts), ...opts });
    if (ok) await p;
    else await assert.rejects(p, WebhookVerificationError);
  });
}
