#!/usr/bin/env node
// One bin for every runtime: `npx unicorn`, `bunx --bun unicorn`, `deno run -A npm:unicorn-http`.
// Each loads the JavaScript built for its runtime (`npm run build`; shipped in the package).
if (globalThis.Bun) {
  await import("../dist/bun/main.mjs");
} else if (globalThis.Deno) {
  await import("../dist/deno/main.mjs");
} else {
  await import("../dist/node/main.mjs");
}
