#!/usr/bin/env node
// One bin for every runtime: `npx unicorn`, `bunx --bun unicorn`, `deno run -A npm:unicorn-http`.
if (globalThis.Bun) {
  await import("../runtimes/bun/main.ts");
} else if (globalThis.Deno) {
  await import("../runtimes/deno/main.ts");
} else {
  // Built by `npm run build` (run by `npm ci` and `npm install` through "prepare").
  await import("../dist/node-main.mjs");
}
