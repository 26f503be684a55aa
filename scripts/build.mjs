#!/usr/bin/env node
// Builds what the npm package ships: JavaScript for every runtime and the types.
//
//   dist/{node,bun,deno}/main.mjs    the CLI (the arbiter), one bundle per runtime
//   dist/{node,bun,deno}/worker.mjs  the worker entry, spawned beside it
//   dist/mod.mjs, dist/mod.cjs       the public API (defineConfig, ExitCode, ...) for import and require
//   dist/types/**.d.ts               its declarations
//
// No runtime loads TypeScript from the package: Deno and Node >= 22.18 refuse to strip types under
// node_modules, and a compiler at start-up costs ~370 ms. Bun and Deno bundles inline their
// dependencies, so no bare specifier has to resolve from wherever the package was unpacked (Deno's
// npm cache, node_modules, a global install). JSR publishes the TypeScript sources instead.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
const deno = JSON.parse(fs.readFileSync(path.join(root, "deno.json"), "utf8"));
// npm and JSR publish one entry point: the API bundle is built from JSR's.
const API_ENTRY = typeof deno.exports === "string" ? deno.exports : deno.exports["."];

fs.rmSync(dist, { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  format: "esm",
  target: ["node20", "es2023"],
  logLevel: "warning",
  legalComments: "inline",
};

for (const runtime of ["node", "bun", "deno"]) {
  await build({
    ...common,
    entryPoints: { main: `runtimes/${runtime}/main.ts`, worker: `runtimes/${runtime}/worker.ts` },
    outdir: `dist/${runtime}`,
    outExtension: { ".js": ".mjs" },
    // Node resolves the package's dependencies from node_modules; tsx must stay a module of its own
    // (workers load it as a loader). Bun and Deno get everything inlined.
    packages: runtime === "node" ? "external" : undefined,
    external: ["tsx", "tsx/*"],
    // An inlined CommonJS dependency (ws) requires Node's builtins: Deno's ES modules have no require.
    ...(runtime === "deno"
      ? { banner: { js: 'import { createRequire as __unicornRequire } from "node:module"; const require = __unicornRequire(import.meta.url);' } }
      : {}),
  });
}

// The API alone: running the CLI is bin/unicorn.mjs's business (mod.ts runs it only as a main module).
const CLI_MARK = "// Run as a program";
const apiOnly = {
  name: "api-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]mod\.ts$/ }, (args) => {
      const text = fs.readFileSync(args.path, "utf8");
      if (!text.includes(CLI_MARK)) throw new Error(`${args.path} lost its "${CLI_MARK}" line`);
      return { contents: text.slice(0, text.indexOf(CLI_MARK)), loader: "ts" };
    });
  },
};
for (const format of ["esm", "cjs"]) {
  await build({
    ...common,
    entryPoints: { mod: API_ENTRY },
    outdir: "dist",
    outExtension: { ".js": format === "esm" ? ".mjs" : ".cjs" },
    format,
    plugins: [apiOnly],
  });
}

// Declarations: tsc writes `.ts` specifiers as they are in the sources; a consumer resolves `.js` to `.d.ts`.
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.types.json"], {
  cwd: root,
  stdio: "inherit",
});
const types = path.join(dist, "types");
fs.rmSync(path.join(types, "runtimes"), { recursive: true, force: true });
for (const file of fs.readdirSync(types, { recursive: true })) {
  if (!file.endsWith(".d.ts")) continue;
  const full = path.join(types, file);
  const text = fs.readFileSync(full, "utf8");
  fs.writeFileSync(full, text.replace(/((?:from|import)\s*\(?\s*["']\.{1,2}\/[^"']*?)\.ts(["'])/g, "$1.js$2"));
}
