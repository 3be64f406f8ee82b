/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The console is built into the Go package that embeds it (internal/console/dist); `hookd serve` serves it at /.
// `npm run dev` proxies API calls to a hookd on 127.0.0.1:8080 (HOOKD_URL to change).
const hookd = process.env.HOOKD_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "../internal/console/dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // CSP is default-src 'self': nothing may be inlined as a data: URL.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    // Two pages, one build: the console (index.html) and the tenants' portal (portal.html, /portal/<session_id>).
    rollupOptions: { input: { index: "index.html", portal: "portal.html" } },
  },
  server: {
    proxy: {
      "^/hookd\\.v1\\.": { target: hookd, changeOrigin: false },
      "/v1/": { target: hookd },
    },
  },
  test: {
    environment: "happy-dom",
    globals: true, // lets @testing-library clean up after each test
    include: ["test/**/*.test.tsx", "test/**/*.test.ts"],
  },
});
