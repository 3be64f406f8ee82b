// npm pack must produce a self-contained package: install the tarball into an empty project, import it,
// and type-check a consumer written like the README against the shipped .d.ts files.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");

const consumer = `
import { createServer } from "node:http";
import { createHookdClient, isNotFound, DeliveryStatus, parseWebhook, verifyWebhook, completeAction, Code, type Envelope } from "@hookd/client";
import { authInterceptor, retryInterceptor, isRetryableCall, EventService, type HookdClientOptions, type RetryOptions } from "@hookd/client";
import type { Integration } from "@hookd/client";

export async function api(): Promise<void> {
  const hookd = createHookdClient({ baseUrl: "http://127.0.0.1:8080", apiKey: process.env.HOOKD_API_KEY! });
  const { webhook } = await hookd.webhooks.createWebhook({ name: "CRM", systemName: "crm", url: "https://crm.example.com/h" });
  await hookd.subscriptions.createSubscription({ webhookId: webhook!.id, eventTypes: ["user.created"] });
  const { event, deliveryIds } = await hookd.events.publishEvent({
    eventType: "user.created", subject: "cus_42", idempotencyKey: "signup-42", payload: { email: "ada@example.com" },
  });
  const { delivery } = await hookd.deliveries.getDelivery({ id: deliveryIds[0] });
  const status: string | undefined = DeliveryStatus[delivery!.status];
  const i: Integration | undefined = (await hookd.integrations.listIntegrations({})).integrations[0];
  try {
    await hookd.integrations.getIntegration({ id: "int_nope" });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const c: Code = err.code;
    console.log(c, event!.id, status, i?.name);
  }
}

export function options(): void {
  const retry: RetryOptions = { retryMax: 5, retryWaitMinMs: 100, retryWaitMaxMs: 2000 };
  const opts: HookdClientOptions = { baseUrl: "http://127.0.0.1:8080", apiKey: "hk_x", timeoutMs: 10_000, ...retry };
  const c = createHookdClient(opts);
  const interceptors = [authInterceptor("hk_x"), retryInterceptor(retry)];
  const retried: boolean = isRetryableCall(EventService.method.publishEvent, { idempotencyKey: "k" });
  console.log(c.transport, interceptors.length, retried);
}

export async function ed25519(body: string, headers: Record<string, string>): Promise<void> {
  await verifyWebhook(process.env.HOOKD_WEBHOOK_PUBLIC_KEY!, headers, body); // whpk_…
}

export function receiver(): void {
  createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c);
    try {
      const event: Envelope<{ email: string }> = await parseWebhook<{ email: string }>(process.env.HOOKD_WEBHOOK_SECRET!, req.headers, Buffer.concat(chunks));
      console.log(event.type, event.data.email, event.meta.deliveryId);
      await completeAction(event.meta.link, { status: "failed", reason: "card declined" });
      res.writeHead(200).end();
    } catch {
      res.writeHead(401).end();
    }
  }).listen(9000);
}
`;

test("npm pack installs and type-checks in an empty project", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "hookd-client-pack-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // The package was just built by `npm test`; --ignore-scripts skips a second build.
  await run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: pkgDir });
  const tgz = (await readdir(dir)).find((f) => f.endsWith(".tgz"));
  assert.ok(tgz, "npm pack wrote no tarball");
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", join(dir, tgz)], {
    cwd: dir,
  });

  const { stdout } = await run(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import * as m from "@hookd/client";
       const c = m.createHookdClient({ baseUrl: "http://127.0.0.1:1", apiKey: "hk_x" });
       await m.verifyWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
         { "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" },
         '{"test": 2432232314}', { now: new Date(1614265330000) });
       console.log(typeof c.webhooks.createWebhook, m.DeliveryStatus.DONE, typeof m.IntegrationSchema);`,
    ],
    { cwd: dir },
  );
  assert.equal(stdout.trim(), "function 4 object");

  // CommonJS consumers require() the same API.
  const cjs = await run(
    process.execPath,
    [
      "-e",
      `const m = require("@hookd/client");
       const c = m.createHookdClient({ baseUrl: "http://127.0.0.1:1", apiKey: "hk_x" });
       m.verifyWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
         { "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" },
         '{"test": 2432232314}', { now: new Date(1614265330000) })
         .then(() => console.log(typeof c.webhooks.createWebhook, m.DeliveryStatus.DONE, typeof m.IntegrationSchema));`,
    ],
    { cwd: dir },
  );
  assert.equal(cjs.stdout.trim(), "function 4 object", "require(\"@hookd/client\")");

  await writeFile(join(dir, "consumer.ts"), consumer);
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        lib: ["ES2022", "DOM"],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        typeRoots: [join(pkgDir, "node_modules", "@types")],
        types: ["node"],
      },
      files: ["consumer.ts"],
    }),
  );
  try {
    await run(process.execPath, [join(pkgDir, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: dir });
  } catch (err) {
    assert.fail(`consumer does not type-check:\n${err.stdout}${err.stderr}`);
  }
});
