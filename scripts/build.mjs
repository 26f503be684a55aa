#!/usr/bin/env node
// Bundles the Node entry points into dist/, so that neither the arbiter nor a
// worker loads a TypeScript compiler at start-up (tsx alone costs ~370 ms).
// Bun and Deno run the TypeScript sources as they are.
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");
await build({
  absWorkingDir: root,
  entryPoints: { "node-main": "runtimes/node/main.ts", "node-worker": "runtimes/node/worker.ts" },
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  logLevel: "warning",
});
