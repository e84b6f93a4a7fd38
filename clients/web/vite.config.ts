// Builds the web client into dist/: the server serves dist/index.html at "/" (and any deep
// link) and dist/assets/* at /assets/. Its Content-Security-Policy allows only same-origin
// scripts and styles, so nothing may be inlined into index.html.
import { defineConfig } from "vitest/config";

const API_SERVER = "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // Never inline assets as data: URIs into scripts or styles; emit them as files.
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev` talks to a `make run` server on the default port.
    proxy: {
      "/api": API_SERVER,
      "/health": API_SERVER,
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
