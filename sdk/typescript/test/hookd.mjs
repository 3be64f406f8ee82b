// Test helper: builds cmd/hookd (or uses $HOOKD_BIN) and runs `hookd serve --dev` on a free loopback
// port with a fresh data directory and a random bootstrap admin key, then waits for /readyz. The SDK's live
// tests and the console's browser tests (console/e2e) both start hookd with it.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Path of a hookd binary: $HOOKD_BIN, or cmd/hookd built into the temp dir (a no-op when up to date). */
export async function hookdBinary() {
  if (process.env.HOOKD_BIN) return process.env.HOOKD_BIN;
  const out = join(tmpdir(), "hookd-sdk-typescript-test", "hookd");
  try {
    await promisify(execFile)("go", ["build", "-o", out, "./cmd/hookd"], { cwd: repoRoot, maxBuffer: 16 << 20 });
  } catch (err) {
    throw new Error(`go build ./cmd/hookd failed: ${err.stderr || err.message}`);
  }
  return out;
}

/** A loopback TCP port that was free a moment ago. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts hookd; returns {url, apiKey, logs(), stop()}.
 * @param {{corsOrigins?: string[], databaseUrl?: string}} [options] databaseUrl: PostgreSQL instead of embedded SQLite
 */
export async function startHookd(options = {}) {
  const bin = await hookdBinary();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const apiKey = "hk_" + randomBytes(24).toString("hex");
  const dataDir = await mkdtemp(join(tmpdir(), "hookd-data-"));
  const args = ["serve", "--dev", "--addr", `127.0.0.1:${port}`, "--data-dir", dataDir, "--public-url", url];
  for (const o of options.corsOrigins ?? []) args.push("--cors-origin", o);
  if (options.databaseUrl) args.push("--database-url", options.databaseUrl);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HOOKD_")));
  env.HOOKD_BOOTSTRAP_KEY = apiKey;
  const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  let dead = false;
  exited.then(() => (dead = true));
  for (;;) {
    if (dead) throw new Error(`hookd exited before it was ready:\n${output}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`hookd not ready at ${url}/readyz after 30s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, apiKey, logs: () => output, stop };
}

/** Polls fn until it returns a truthy value (or throws after timeoutMs). */
export async function eventually(fn, timeoutMs = 30_000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
