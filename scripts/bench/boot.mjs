#!/usr/bin/env node
// Worker boot time (spawn to serving, as the arbiter logs it) per Node version and app kind: a
// JavaScript app, TypeScript that Node's type stripping runs, and TypeScript that needs tsx.
//
//   node scripts/bench/boot.mjs [--runs N]
//
// Node versions: this one and those in test/node-versions (installed by `npm ci`). Prints medians.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const versions = path.join(ROOT, "test/node-versions/node_modules");
const nodes = [[process.version, process.execPath]];
for (const name of fs.existsSync(versions) ? fs.readdirSync(versions) : []) {
  const bin = path.join(versions, name, "bin/node");
  if (fs.existsSync(bin) && !process.version.startsWith(`v${name.slice(4)}.`)) nodes.push([name, bin]);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-boot-"));
fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
fs.writeFileSync(path.join(dir, "app.mjs"), 'export default { fetch: () => new Response("js") };\n');
fs.writeFileSync(path.join(dir, "greet.ts"), 'export const greet = (): string => "hi";\n');
fs.writeFileSync(path.join(dir, "strip.ts"), 'import { greet } from "./greet.ts";\nexport default { fetch: (_r: Request): Response => new Response(greet()) };\n');
fs.writeFileSync(path.join(dir, "tsx.ts"), 'import { greet } from "./greet";\nenum K { A = "a" }\nexport default { fetch: (_r: Request): Response => new Response(greet() + K.A) };\n');

/** Starts unicorn with one worker, resolves with its boot time in ms, then stops it. */
function bootOnce(node, app) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [path.join(ROOT, "bin/unicorn.mjs"), app, "-b", "127.0.0.1:0"], { cwd: dir });
    let log = "";
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`no boot:\n${log}`))), 30_000);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const match = /booted in (\d+) ms/.exec(log);
      if (!match) return;
      clearTimeout(timer);
      child.kill("SIGTERM");
      child.on("exit", () => resolve(Number(match[1])));
    });
  });
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`worker boot, ms (median of ${runs}; ${os.cpus().length} cores)`);
console.log("| Node | JavaScript | TypeScript, strip-only | TypeScript needing tsx |");
console.log("| --- | --- | --- | --- |");
for (const [name, node] of nodes) {
  const row = [];
  for (const app of ["app.mjs", "strip.ts", "tsx.ts"]) {
    const times = [];
    for (let i = 0; i < runs; i++) times.push(await bootOnce(node, app));
    row.push(median(times));
  }
  console.log(`| ${name} | ${row.join(" | ")} |`);
}
fs.rmSync(dir, { recursive: true, force: true });
