#!/usr/bin/env node
// Benchmarks Express and Fastify apps under unicorn against the same app listened bare (one process),
// under plain node:cluster and under PM2's cluster mode, in one run, with wrk. Prints req/s, p99 latency
// and server CPU ms per 1,000 requests (median of --runs; the CPU of every process of the server: the
// node:cluster primary, PM2's daemon and its workers, unicorn's arbiter and its workers).
//
//   node scripts/bench/frameworks.mjs [--duration 8] [--runs 3] [--connections 50] [--workers 2] [--only express,fastify] [--match REGEX]
//
// PM2 is not a dependency: the first run installs pm2@7 into ${XDG_CACHE_HOME:-~/.cache}/unicorn-bench/pm2
// and runs it with its own PM2_HOME in a temporary folder; `pm2 kill` ends its daemon after each case and
// at exit (also on an error or Ctrl-C). Everything listens on and talks to 127.0.0.1.
//
// This machine's speed drifts by tens of percent for minutes at a time: to compare two cases, select
// just those (--match) with short, many rounds (--duration 3 --runs 7).
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CLK_TCK, freePort, median, treeTicks, waitServing, wrk } from "./measure.mjs";

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

// PM2, installed on demand outside the repository, with a PM2_HOME of its own.
const PM2_DIR = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "unicorn-bench/pm2");
const PM2 = path.join(PM2_DIR, "node_modules/pm2/bin/pm2");
const PM2_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-bench-pm2-"));
const pm2Env = { ...process.env, PM2_HOME };
const pm2 = (...args) => execFileSync(node, [PM2, ...args], { env: pm2Env, cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
// Set while a daemon may be running: `pm2 kill` with none running would start one to kill it.
let pm2Used = false;
function pm2Kill() {
  if (!pm2Used) return;
  try {
    pm2("kill");
    pm2Used = false;
  } catch (error) {
    console.error(`pm2 kill: ${error.message}`);
  }
}

/**
 * Each case: a command taking the port. wrk runs on CPU 0; single-process cases are pinned to CPU 1, as in
 * run.mjs, so that the bare server and unicorn's worker run under the same scheduling. Cases with several
 * workers use both CPUs. A case with `pm2` starts through PM2, whose daemon (not the CLI) owns the workers.
 */
const CASES = Object.fromEntries(["express", "fastify"].map((fw) => [fw, [
  { name: `${NAMES[fw]} (bare, app.listen)`, pin: true, cmd: (p) => [node, listen, fw, p] },
  { name: `${NAMES[fw]}, unicorn 1 worker`, pin: true, cmd: (p) => [...unicorn, app(fw), "-b", `127.0.0.1:${p}`, ...quiet] },
  { name: `${NAMES[fw]}, node:cluster ${workers} workers`, cmd: (p) => [node, path.join(APPS, "cluster.mjs"), fw, p, workers] },
  { name: `${NAMES[fw]}, PM2 -i ${workers}`, pm2: true, cmd: (p) => ["start", listen, "-i", workers, "--name", `bench-${fw}`, "--", fw, p] },
  { name: `${NAMES[fw]}, unicorn ${workers} workers`, cmd: (p) => [...unicorn, app(fw), "-w", workers, "-b", `127.0.0.1:${p}`, ...quiet] },
]]));


/** Starts a case; returns the pid whose process tree is the server, and how to stop it. */
function start(c, port) {
  if (c.pm2) {
    pm2Used = true;
    pm2(...c.cmd(String(port)));
    const pid = Number(fs.readFileSync(path.join(PM2_HOME, "pm2.pid"), "utf8"));
    return { pid, stderr: () => "", stop: async () => pm2Kill() };
  }
  const [cmd, ...args] = [...(c.pin ? ["taskset", "-c", "1"] : []), ...c.cmd(String(port))];
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], cwd: ROOT });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((r) => child.once("exit", r));
  return {
    pid: child.pid,
    stderr: () => stderr,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function measure(c) {
  const port = await freePort();
  const started = performance.now();
  let server;
  try {
    server = start(c, port);
    await waitServing(port, Date.now() + 30_000, (text) => JSON.parse(text).message === "Hello, World!");
    const startup = performance.now() - started;
    // Warm up, then measure.
    execFileSync("taskset", ["-c", "0", "wrk", "-t1", `-c${values.connections}`, "-d2s", `http://127.0.0.1:${port}/`]);
    const before = treeTicks(server.pid);
    const result = wrk(port, values);
    const cpuMs = ((treeTicks(server.pid) - before) * 1000) / CLK_TCK;
    return { ...result, startup, cpuPer1k: (cpuMs / result.total) * 1000 };
  } catch (error) {
    throw new Error(`${c.name}: ${error.message}\n${server?.stderr() ?? ""}${error.stderr ?? ""}`);
  } finally {
    await server?.stop();
  }
}

function installPm2() {
  if (fs.existsSync(PM2)) return;
  console.error(`installing pm2@7 into ${PM2_DIR} (once)`);
  fs.mkdirSync(PM2_DIR, { recursive: true });
  execFileSync("npm", ["install", "--prefix", PM2_DIR, "--no-audit", "--no-fund", "--loglevel=error", "pm2@7"], { stdio: "inherit" });
}

function cleanUp() {
  pm2Kill();
  fs.rmSync(PM2_HOME, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

const match = new RegExp(values.match);
const cases = values.only.split(",").flatMap((fw) => CASES[fw]).filter((c) => match.test(c.name));
const results = new Map(cases.map((c) => [c, []]));
try {
  if (cases.some((c) => c.pm2)) installPm2();
  // Rounds interleave the cases, so a drift in the machine's speed hits all of them alike.
  for (let round = 0; round < Number(values.runs); round++) {
    for (const c of cases) {
      const r = await measure(c);
      results.get(c).push(r);
      console.error(`round ${round + 1} ${c.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99ms.toFixed(2)} ms, ${r.cpuPer1k.toFixed(1)} CPU ms/1k`);
    }
  }
} finally {
  cleanUp();
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
const pm2Version = fs.existsSync(PM2) ? JSON.parse(fs.readFileSync(path.join(PM2_DIR, "node_modules/pm2/package.json"), "utf8")).version : "-";
console.log(`\nwrk -t1 -c${values.connections} -d${values.duration}s on CPU 0, median of ${values.runs} interleaved rounds; ` +
  `single-process cases pinned to CPU 1; node ${process.versions.node}, pm2 ${pm2Version}; ${new Date().toISOString().slice(0, 10)}\n`);
console.log("| server | req/s | p99 ms | server CPU ms per 1k requests | start to first response ms |");
console.log("| --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(2)} | ${r.cpu.toFixed(1)} | ${r.startup.toFixed(0)} |${r.errors ? ` errors: ${r.errors}` : ""}`);
}
