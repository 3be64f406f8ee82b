// The portal token path: portalTokenFromLocation reads `#token=` once, keeps it in sessionStorage and clears the
// fragment; createHookdClient({ token }) sends it as the bearer credential.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { createHookdClient, PORTAL_TOKEN_KEY, portalTokenFromLocation } from "../dist/index.js";

function fakeWindow(hash) {
  const store = new Map();
  const w = {
    location: { hash, pathname: "/portal/ps_1", search: "" },
    replaced: [],
    history: { replaceState: (_d, _u, url) => { w.replaced.push(url); w.location.hash = ""; } },
    sessionStorage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) },
  };
  return w;
}

test("portalTokenFromLocation keeps the fragment's token and clears it", () => {
  const w = fakeWindow("#token=hps_abc");
  assert.equal(portalTokenFromLocation(w), "hps_abc");
  assert.deepEqual(w.replaced, ["/portal/ps_1"], "the fragment is cleared");
  assert.equal(w.sessionStorage.getItem(PORTAL_TOKEN_KEY), "hps_abc");
  assert.equal(portalTokenFromLocation(w), "hps_abc", "a reload reads sessionStorage");
  assert.equal(portalTokenFromLocation(fakeWindow("")), undefined);
  const denied = fakeWindow("#token=hps_xyz");
  denied.sessionStorage = { getItem: () => { throw new Error("Access is denied"); }, setItem: () => { throw new Error("Access is denied"); } };
  assert.equal(portalTokenFromLocation(denied), "hps_xyz", "a frame without storage still gets its token");
  assert.deepEqual(denied.replaced, ["/portal/ps_1"]);
});

test("createHookdClient({ token }) sends the portal token", async () => {
  let auth;
  const srv = createServer((req, res) => {
    auth = req.headers.authorization;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ session: { id: "ps_1", tenantId: "t1" } }));
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  try {
    const hookd = createHookdClient({ baseUrl: `http://127.0.0.1:${srv.address().port}`, token: "hps_abc" });
    const res = await hookd.portal.getCurrentPortalSession({});
    assert.equal(res.session?.tenantId, "t1");
    assert.equal(auth, "Bearer hps_abc");
  } finally {
    srv.close();
  }
  assert.throws(() => createHookdClient({ baseUrl: "http://x" }), /apiKey \(or a portal token\) is required/);
});
