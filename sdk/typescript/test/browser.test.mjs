// Loads a page in headless Chromium that uses the SDK's default connect-web transport against hookd
// (started with --cors-origin for the page's origin).
import assert from "node:assert/strict";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { startHookd } from "./hookd.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

test("browser: list and create integrations with connect-web", async (t) => {
  try {
    accessSync(executablePath, constants.X_OK);
  } catch {
    assert.fail(`no Chromium at ${executablePath}: run \`make test\` from the repository root (installs Debian's chromium as root), apt-get install chromium, or set CHROMIUM_PATH`);
  }
  const bundle = await build({
    entryPoints: [join(here, "browser", "app.mjs")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
  });
  const js = bundle.outputFiles[0].text;
  const page = createServer((req, res) => {
    if (req.url.startsWith("/app.js")) {
      res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    } else {
      res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><title>hookd</title><script type="module" src="/app.js"></script>');
    }
  });
  await new Promise((r) => page.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => page.close(r)));
  const origin = `http://127.0.0.1:${page.address().port}`;

  const hookd = await startHookd({ corsOrigins: [origin] });
  t.after(hookd.stop);

  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
  t.after(() => browser.close());
  const tab = await browser.newPage();
  const consoleLines = [];
  tab.on("console", (m) => consoleLines.push(m.text()));
  await tab.goto(`${origin}/?hookd=${encodeURIComponent(hookd.url)}&key=${encodeURIComponent(hookd.apiKey)}`);
  await tab.waitForFunction(() => window.__result !== undefined, null, { timeout: 30_000 });
  const result = await tab.evaluate(() => window.__result);

  assert.equal(result.error, undefined, `${result.error}\nconsole: ${consoleLines.join("\n")}`);
  assert.match(result.created, /^int_/);
  assert.ok(result.listed.includes("From the browser"), JSON.stringify(result.listed));
  assert.equal(result.notFound, true);
  assert.equal(result.verified, true);
  assert.equal(result.ed25519, true, "ed25519 verified with the right key and rejected with another");
});
