#!/usr/bin/env node
// Benchmarks unicorn against the bare servers of each runtime, in one run, with wrk.
// Prints req/s, p99 latency and server CPU ms per 1,000 requests (median of --runs).
//
//   node scripts/bench/run.mjs [--duration 8] [--runs 3] [--connections 50] [--only node,bun,deno] [--match REGEX]
//
// This machine's speed drifts by tens of percent for minutes at a time: to compare two cases, select
// just those (--only, --match) with short, many rounds (--duration 3 --runs 7).
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { CLK_TCK, freePort, median, treeTicks, waitServing, wrk } from "./measure.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    only: { type: "string", default: "node,bun,deno" },
    workers: { type: "string", default: "2" },
    // Only the cases whose name matches, for tight A/B rounds: --match "Bun.serve|bun, 1 worker"
    match: { type: "string", default: "" },
  },
});
const workers = values.workers;
const hello = path.join(ROOT, "scripts/bench/hello.mjs");
const bare = (name) => path.join(ROOT, "scripts/bench/bare", name);
const unicorn = {
  node: [process.execPath, path.join(ROOT, "bin/unicorn.mjs")],
  bun: [path.join(BIN, "bun"), path.join(ROOT, "mod.ts")],
  deno: [path.join(BIN, "deno"), "run", "-A", path.join(ROOT, "mod.ts")],
};
const quiet = ["--log-level", "warning"];

/**
 * Each case: a command taking the port. wrk runs on CPU 0; single-process cases are pinned to CPU 1, so
 * that the bare server and unicorn's worker run under the same scheduling (unpinned, the CPU per request
 * of one process moved by 20 % between runs here). Cases with several workers use both CPUs.
 */
const CASES = {
  node: [
    { name: "node:http (bare)", pin: true, cmd: (p) => [process.execPath, bare("node-http.mjs"), p] },
    { name: "@hono/node-server (bare)", pin: true, cmd: (p) => [process.execPath, bare("hono-node.mjs"), p] },
    { name: "unicorn node, 1 worker", pin: true, cmd: (p) => [...unicorn.node, hello, "-b", `127.0.0.1:${p}`, ...quiet] },
    { name: `unicorn node, ${workers} workers`, cmd: (p) => [...unicorn.node, hello, "-w", workers, "-b", `127.0.0.1:${p}`, ...quiet] },
  ],
  bun: [
    { name: "Bun.serve (bare)", pin: true, cmd: (p) => [path.join(BIN, "bun"), bare("bun-serve.ts"), p] },
    { name: "unicorn bun, 1 worker", pin: true, cmd: (p) => [...unicorn.bun, hello, "-b", `127.0.0.1:${p}`, ...quiet] },
    { name: `unicorn bun, ${workers} workers`, cmd: (p) => [...unicorn.bun, hello, "-w", workers, "-b", `127.0.0.1:${p}`, ...quiet] },
  ],
  deno: [
    { name: "Deno.serve (bare)", pin: true, cmd: (p) => [path.join(BIN, "deno"), "run", "-A", bare("deno-serve.ts"), p] },
    { name: "@hono/node-server on Deno (bare)", pin: true, cmd: (p) => [path.join(BIN, "deno"), "run", "-A", bare("hono-node.mjs"), p] },
    { name: "unicorn deno, 1 worker", pin: true, cmd: (p) => [...unicorn.deno, hello, "-b", `127.0.0.1:${p}`, ...quiet] },
    {
      name: "unicorn deno --engine native, 1 worker",
      pin: true,
      cmd: (p) => [...unicorn.deno, hello, "--engine", "native", "-b", `127.0.0.1:${p}`, ...quiet],
    },
    { name: `unicorn deno, ${workers} workers`, cmd: (p) => [...unicorn.deno, hello, "-w", workers, "-b", `127.0.0.1:${p}`, ...quiet] },
  ],
};


async function measure(c) {
  const port = await freePort();
  const [cmd, ...args] = [...(c.pin ? ["taskset", "-c", "1"] : []), ...c.cmd(String(port))];
  const started = performance.now();
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], cwd: ROOT });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  try {
    await waitServing(port, Date.now() + 20_000, (text) => text === "Hello, World!");
    const startup = performance.now() - started;
    // Warm up, then measure.
    execFileSync("taskset", ["-c", "0", "wrk", "-t1", `-c${values.connections}`, "-d2s", `http://127.0.0.1:${port}/`]);
    const before = treeTicks(child.pid);
    const result = wrk(port, values);
    const cpuMs = ((treeTicks(child.pid) - before) * 1000) / CLK_TCK;
    return { ...result, startup, cpuPer1k: (cpuMs / result.total) * 1000 };
  } catch (error) {
    throw new Error(`${c.name}: ${error.message}\n${stderr}`);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

const runtimes = values.only.split(",");
const match = new RegExp(values.match);
const cases = runtimes.flatMap((rt) => CASES[rt]).filter((c) => match.test(c.name));
const results = new Map(cases.map((c) => [c, []]));
// Rounds interleave the cases, so a drift in the machine's speed hits all of them alike.
for (let round = 0; round < Number(values.runs); round++) {
  for (const c of cases) {
    const r = await measure(c);
    results.get(c).push(r);
    console.error(`round ${round + 1} ${c.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99ms.toFixed(2)} ms, ${r.cpuPer1k.toFixed(1)} CPU ms/1k`);
  }
}
const rows = cases.map((c) => {
  const rs = results.get(c);
  return {
    name: c.name,
    rps: median(rs.map((r) => r.rps)),
    p99: median(rs.map((r) => r.p99ms)),
    cpu: median(rs.map((r) => r.cpuPer1k)),
    startup: median(rs.map((r) => r.startup)),
    errors: rs.map((r) => r.errors).filter(Boolean).join("; "),
  };
});
console.log(`\nwrk -t1 -c${values.connections} -d${values.duration}s on CPU 0, median of ${values.runs} interleaved rounds; ` +
  `single-process cases pinned to CPU 1; ${new Date().toISOString().slice(0, 10)}\n`);
console.log("| server | req/s | p99 ms | server CPU ms per 1k requests | start to first response ms |");
console.log("| --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(2)} | ${r.cpu.toFixed(1)} | ${r.startup.toFixed(0)} |${r.errors ? ` errors: ${r.errors}` : ""}`);
}
