// The SDK's copies of server rules, pinned to the server: fullUrl to the table sender.FullURL is tested on
// (internal/console/contract_test.go), fieldViolations to the google.rpc.BadRequest detail hookd attaches.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, fieldViolations, fullUrl, invalidArgument } from "../dist/index.js";

test("fullUrl joins as sender.FullURL does", async () => {
  const cases = JSON.parse(await readFile(new URL("./full-url-cases.json", import.meta.url), "utf8"));
  assert.ok(cases.length > 0);
  for (const c of cases) {
    assert.equal(fullUrl(c.url, c.path, c.baseUrl ?? undefined), c.want, JSON.stringify(c));
  }
});

test("fieldViolations reads google.rpc.BadRequest details", () => {
  const violation = (field, description) =>
    new BinaryWriter().uint32((1 << 3) | 2).string(field).uint32((2 << 3) | 2).string(description).uint32((3 << 3) | 2).string("ignored").finish();
  const w = new BinaryWriter();
  for (const v of [violation("headers[0].name", "is required"), violation("url", "must be https")]) {
    w.uint32((1 << 3) | 2).bytes(v);
  }
  const err = new ConnectError("headers[0].name: is required", Code.InvalidArgument);
  err.details.push({ type: "google.rpc.BadRequest", value: w.finish() }, { type: "google.rpc.RetryInfo", value: new Uint8Array() });
  assert.deepEqual(fieldViolations(err), [
    { field: "headers[0].name", description: "is required" },
    { field: "url", description: "must be https" },
  ]);
  assert.deepEqual(fieldViolations(new ConnectError("x: y", Code.InvalidArgument)), []);
  assert.deepEqual(fieldViolations(new Error("x: y")), []);
});

test("invalidArgument builds what fieldViolations reads", () => {
  const err = invalidArgument("schema", "must be a JSON object");
  assert.equal(err.code, Code.InvalidArgument);
  assert.equal(err.rawMessage, "schema: must be a JSON object");
  assert.deepEqual(fieldViolations(err), [{ field: "schema", description: "must be a JSON object" }]);
});
