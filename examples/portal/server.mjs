// Sending webhooks to your customers, the backend's side: the app's server keeps the hookd API key and, for a
// signed-in customer, mints a short-lived portal session and hands the browser its portal URL (or its token).
//
//   HOOKD_URL=http://127.0.0.1:8080 HOOKD_API_KEY=hk_… node examples/portal/server.mjs
//   open http://localhost:3000/          (embeds the hookd portal)
//   open http://localhost:3000/app.html  (your own UI through @hookd/client; build app.ts with any bundler)
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createHookdClient, Role } from "@hookd/client";

const hookd = createHookdClient({ baseUrl: process.env.HOOKD_URL ?? "http://127.0.0.1:8080", apiKey: process.env.HOOKD_API_KEY });
const origin = process.env.APP_ORIGIN ?? "http://localhost:3000";

createServer(async (req, res) => {
  if (req.url === "/portal-session") {
    // In a real app: the tenant is the signed-in customer's account, never a request parameter.
    const s = await hookd.portal.createPortalSession({
      tenantId: "acme", role: Role.MEMBER, allowedOrigins: [origin], title: "Acme · Webhooks", accentColor: "#0a7d4f",
    });
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    return res.end(JSON.stringify({ portalUrl: s.portalUrl, token: s.token }));
  }
  const file = req.url === "/app.html" ? "app.html" : "embed.html";
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(await readFile(new URL(file, import.meta.url)));
}).listen(3000, "localhost");
