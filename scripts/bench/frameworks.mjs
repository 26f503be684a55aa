#!/usr/bin/env node
// Benchmarks Express and Fastify apps under unicorn against the same app listened bare (one process),
// under plain node:cluster and under PM2's cluster mode, in one run, with wrk. Prints req/s, p99 latency
// and server CPU ms per 1,000 requests (median of --runs; the CPU of every process of the server: the
// node:cluster primary, PM2's daemon and its workers, unicorn's arbiter and its workers).
//
//   node scripts/bench/frameworks.mjs [--duration 8] [--runs 3] [--connections 50] [--workers 2] [--only express,fastify] [--match REGEX]
//
// PM2 is not a dependency: the first run installs pm2@7 into ${XDG_CACHE_HOME:-~/.cache}/unicorn-bench/pm2
// and runs it with its own PM2_HOME inside that folder (pm2.mjs); `pm2 kill` ends its daemon after each
// case and at exit (also on an error or Ctrl-C); offline, its cases are skipped. Everything listens on and
// talks to 127.0.0.1.
//
// This machine's speed drifts by tens of percent for minutes at a time: to compare two cases, select
// just those (--match) with short, many rounds (--duration 3 --runs 7).
import path from "node:path";
import { parseArgs } from "node:util";
import { CLK_TCK, freePort, median, treeTicks, waitServing, wrk } from "./measure.mjs";
import { pm2Version, preparePm2 } from "./pm2.mjs";
import { cleanUp, cleanUpOnSignals, startCase, stopping } from "./servers.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");
const APPS = path.join(ROOT, "scripts/bench/apps");
const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    only: { type: "string", default: "express,fastify" },
    workers: { type: "string", default: "2" },
    // Only the cases whose name matches, for tight A/B rounds: --match "Express (bare)|Express, unicorn 1 worker"
    match: { type: "string", default: "" },
  },
});
const workers = values.workers;
const node = process.execPath;
const unicorn = [node, path.join(ROOT, "bin/unicorn.mjs")];
const quiet = ["--log-level", "warning"];
const app = (fw) => path.join(APPS, `${fw}.mjs`);
const listen = path.join(APPS, "listen.mjs");
const NAMES = { express: "Express", fastify: "Fastify" };

/**
 * Each case: a command taking the port. wrk runs on CPU 0; single-process cases are pinned to CPU 1, as in
 * run.mjs, so that the bare server and unicorn's worker run under the same scheduling. Cases with several
 * workers use both CPUs. A case with `pm2` starts through PM2, whose daemon (not the CLI) owns the workers.
 */
const CASES = Object.fromEntries(["express", "fastify"].map((fw) => [fw, [
  { name: `${NAMES[fw]} (bare, app.listen)`, pin: true, cmd: (p) => [node, listen, fw, p] },
  { name: `${NAMES[fw]}, unicorn 1 worker`, pin: true, cmd: (p) => [...unicorn, app(fw), "-b", `127.0.0.1:${p}`, ...quiet] },
  { name: `${NAMES[fw]}, node:cluster ${workers} workers`, cmd: (p) => [node, path.join(APPS, "cluster.mjs"), fw, p, workers] },
  { name: `${NAMES[fw]}, PM2 -i ${workers}`, pm2: true, cmd: (p) => [listen, "-i", workers, "--name", `bench-${fw}`, "--", fw, p] },
  { name: `${NAMES[fw]}, unicorn ${workers} workers`, cmd: (p) => [...unicorn, app(fw), "-w", workers, "-b", `127.0.0.1:${p}`, ...quiet] },
]]));


async function measure(c) {
  const port = await freePort();
  const started = performance.now();
  let server;
  try {
    server = await startCase(c, port);
    await waitServing(port, Date.now() + 30_000, (text) => JSON.parse(text).message === "Hello, World!");
    const startup = performance.now() - started;
    // Warm up, then measure.
    await wrk(port, { connections: values.connections, duration: 2 });
    const before = treeTicks(...server.pids);
    const result = await wrk(port, values);
    const cpuMs = ((treeTicks(...server.pids) - before) * 1000) / CLK_TCK;
    return { ...result, startup, cpuPer1k: (cpuMs / result.total) * 1000 };
  } catch (error) {
    throw new Error(`${c.name}: ${error.message}\n${server?.stderr() ?? ""}${error.stderr ?? ""}`);
  } finally {
    await server?.stop();
  }
}

cleanUpOnSignals();

const match = new RegExp(values.match);
let cases = values.only.split(",").flatMap((fw) => CASES[fw]).filter((c) => match.test(c.name));
const results = new Map();
try {
  if (cases.some((c) => c.pm2)) {
    const why = preparePm2();
    if (why) {
      console.error(`skipping the PM2 cases: ${why}`);
      cases = cases.filter((c) => !c.pm2);
    }
  }
  for (const c of cases) results.set(c, []);
  // Rounds interleave the cases, so a drift in the machine's speed hits all of them alike.
  for (let round = 0; round < Number(values.runs) && !stopping(); round++) {
    for (const c of cases) {
      if (stopping()) break;
      const r = await measure(c);
      results.get(c).push(r);
      console.error(`round ${round + 1} ${c.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99ms.toFixed(2)} ms, ${r.cpuPer1k.toFixed(1)} CPU ms/1k`);
    }
  }
} finally {
  await cleanUp();
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
  `single-process cases pinned to CPU 1; node ${process.versions.node}, pm2 ${pm2Version()}; ${new Date().toISOString().slice(0, 10)}\n`);
console.log("| server | req/s | p99 ms | server CPU ms per 1k requests | start to first response ms |");
console.log("| --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(2)} | ${r.cpu.toFixed(1)} | ${r.startup.toFixed(0)} |${r.errors ? ` errors: ${r.errors}` : ""}`);
}
