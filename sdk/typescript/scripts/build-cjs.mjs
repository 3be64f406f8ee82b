// Builds dist/index.cjs, the CommonJS entry (`require("@hookd/client")`), from the ESM build in dist/: one
// bundle of the package's own modules; its dependencies (which ship CommonJS builds too) stay external.
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..");
await build({
  entryPoints: [join(dir, "dist", "index.js")],
  outfile: join(dir, "dist", "index.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  external: ["@bufbuild/protobuf", "@bufbuild/protobuf/*", "@connectrpc/connect", "@connectrpc/connect/*", "@connectrpc/connect-web"],
  logLevel: "warning",
});
