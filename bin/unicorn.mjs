#!/usr/bin/env node
// One bin for every runtime: `npx unicorn`, `bunx --bun unicorn`, `deno run -A npm:unicorn-http`.
if (globalThis.Bun) {
  await import("../runtimes/bun/main.ts");
} else if (globalThis.Deno) {
  await import("../runtimes/deno/main.ts");
} else {
  // Node 20 cannot strip types: tsx loads unicorn's TypeScript (and the app's).
  const { register } = await import("tsx/esm/api");
  register();
  await import("../runtimes/node/main.ts");
}
