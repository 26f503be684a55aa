#!/usr/bin/env node
// Reloads (HUP) unicorn under continuous load, per runtime, and prints the failed requests and the
// time from HUP to the new generation serving. Loopback only; bounded in time.
//
//   node scripts/bench/reload.mjs [--runs 3] [--only node,bun,deno]
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
const { values } = parseArgs({ options: { runs: { type: "string", default: "3" }, only: { type: "string", default: "node,bun,deno" } } });
const COMMANDS = {
  node: [process.execPath, path.join(ROOT, "bin/unicorn.mjs")],
  bun: [path.join(BIN, "bun"), path.join(ROOT, "mod.ts")],
  deno: [path.join(BIN, "deno"), "run", "-A", path.join(ROOT, "mod.ts")],
};
const app = path.join(ROOT, "scripts/bench/hello.mjs");

function waitLine(child, pattern, timeout = 20_000) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern}`)), timeout);
    const onData = (chunk) => {
      buffer += chunk;
      const match = buffer.match(pattern);
      if (match) {
        clearTimeout(timer);
        child.stderr.off("data", onData);
        resolve(match);
      }
    };
    child.stderr.on("data", onData);
  });
}

async function once(runtime) {
  const child = spawn(COMMANDS[runtime][0], [...COMMANDS[runtime].slice(1), app, "-b", "127.0.0.1:0", "-w", "2"], { cwd: ROOT });
  child.stderr.setEncoding("utf8");
  const [, port] = await waitLine(child, /Listening at: http:\/\/127\.0\.0\.1:(\d+)/);
  await waitLine(child, /is serving[\s\S]*is serving/);
  let running = true;
  const counts = { ok: 0, failed: 0 };
  const loop = async (agent) => {
    while (running) {
      await new Promise((resolve) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 200 ? counts.ok++ : counts.failed++, resolve()));
        });
        req.on("error", () => (counts.failed++, resolve()));
      });
    }
  };
  const loops = [
    ...Array.from({ length: 6 }, () => loop(new http.Agent({ keepAlive: true, maxSockets: 1 }))),
    ...Array.from({ length: 2 }, () => loop(false)),
  ];
  await new Promise((r) => setTimeout(r, 1000));
  child.kill("SIGHUP");
  const [, ms] = await waitLine(child, /Reload complete: \d+ workers of generation \d+ serving, (\d+) ms after HUP/);
  await new Promise((r) => setTimeout(r, 1000));
  running = false;
  await Promise.all(loops);
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  return { ...counts, ms: Number(ms) };
}

const migrate = fs.readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim();
console.log(`HUP under load (6 keep-alive + 2 fresh-connection clients, 2 workers), tcp_migrate_req=${migrate}`);
console.log("| runtime | failed / answered, per run | HUP to new generation serving, ms |");
console.log("| --- | --- | --- |");
for (const runtime of values.only.split(",")) {
  const runs = [];
  for (let i = 0; i < Number(values.runs); i++) runs.push(await once(runtime));
  console.log(`| ${runtime} | ${runs.map((r) => `${r.failed} / ${r.ok}`).join(", ")} | ${runs.map((r) => r.ms).join(", ")} |`);
}
