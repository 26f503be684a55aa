#!/usr/bin/env node
// Benchmarks unicorn against the bare servers of each runtime and against the other ways to run a
// runtime on two cores (node:cluster, PM2 -i N, Bun.serve reusePort ×N, `deno serve --parallel`), hello
// world, in one interleaved run, with wrk, keep-alive and `Connection: close`. Prints per runtime req/s,
// p99 latency and server CPU ms per 1,000 requests (medians of --runs), then the ratios: unicorn with one
// worker against the bare server, unicorn with N workers against each N-process peer.
//
//   node scripts/bench/run.mjs [--duration 8] [--runs 3] [--connections 50] [--workers 2]
//     [--modes keepalive,close] [--only node,bun,deno] [--match REGEX] [--warmup 2] [--json]
//
// PM2 is not a dependency: the first run installs it into ${XDG_CACHE_HOME:-~/.cache}/unicorn-bench/pm2
// (pm2.mjs); without it (offline) its cases are skipped, said on stderr. Every server listens on
// 127.0.0.1 and is stopped after its case, and at exit, also on an error or Ctrl-C.
//
// This machine's speed drifts by tens of percent for minutes at a time: to compare two cases, select
// just those (--only, --match) with short, many rounds (--duration 3 --runs 7).
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CLK_TCK, freePort, median, treeTicks, waitServing, wrk } from "./measure.mjs";
import { pm2Version, preparePm2 } from "./pm2.mjs";
import { cleanUp, cleanUpOnSignals, startCase, stopping } from "./servers.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    only: { type: "string", default: "node,bun,deno" },
    workers: { type: "string", default: "2" },
    // keepalive: wrk's default, connections reused; close: `Connection: close`, a new connection per request.
    modes: { type: "string", default: "keepalive,close" },
    // Seconds of wrk before each measurement, in the mode measured.
    warmup: { type: "string", default: "2" },
    // Only the cases whose name matches, for tight A/B rounds: --match "Bun.serve|bun, 1 worker"
    match: { type: "string", default: "" },
    // The results as one JSON object on stdout instead of the tables.
    json: { type: "boolean", default: false },
  },
});
const workers = values.workers;
const MODES = { keepalive: "keep-alive", close: "Connection: close" };
const modes = values.modes.split(",").filter(Boolean);
for (const m of modes) if (!MODES[m]) throw new Error(`--modes: ${m}? (keepalive, close)`);
const hello = path.join(ROOT, "scripts/bench/hello.mjs");
const bare = (name) => path.join(ROOT, "scripts/bench/bare", name);
const apps = (name) => path.join(ROOT, "scripts/bench/apps", name);
const bun = path.join(BIN, "bun");
const deno = path.join(BIN, "deno");
const unicorn = {
  node: [process.execPath, path.join(ROOT, "bin/unicorn.mjs")],
  bun: [bun, path.join(ROOT, "mod.ts")],
  deno: [deno, "run", "-A", path.join(ROOT, "mod.ts")],
};
const quiet = ["--log-level", "warning"];
const serve = (rt, p, ...more) => [...unicorn[rt], hello, ...more, "-b", `127.0.0.1:${p}`, ...quiet];

/**
 * Each case: a command taking the port. wrk runs on CPU 0; single-process cases are pinned to CPU 1, so
 * that the bare server and unicorn's worker run under the same scheduling (unpinned, the CPU per request
 * of one process moved by 20 % between runs here). Cases with several workers use both CPUs.
 * `procs`: how many copies of the command to start (Bun's reusePort). `pm2`: the command is `pm2 start`'s
 * arguments; PM2's daemon, not its CLI, owns the workers. The server's CPU is that of every process it
 * started: node:cluster's primary, PM2's daemon, unicorn's arbiter, and their workers.
 */
const CASES = {
  node: [
    { id: "node-http", name: "node:http (bare)", pin: true, cmd: (p) => [process.execPath, bare("node-http.mjs"), p] },
    { id: "hono-node", name: "@hono/node-server (bare)", pin: true, cmd: (p) => [process.execPath, bare("hono-node.mjs"), p] },
    { id: "unicorn-node-1", name: "unicorn node, 1 worker", pin: true, cmd: (p) => serve("node", p) },
    { id: "node-cluster", name: `node:cluster, ${workers} workers (node:http)`, cmd: (p) => [process.execPath, apps("cluster.mjs"), "http", p, workers] },
    { id: "pm2", name: `PM2 -i ${workers} (node:http)`, pm2: true, cmd: (p) => [apps("listen.mjs"), "-i", workers, "--name", "unicorn-bench-http", "--", "http", p] },
    // The same Fetch handler unicorn serves, as such an app runs on Node without unicorn.
    { id: "node-cluster-hono", name: `node:cluster, ${workers} workers (@hono/node-server)`, cmd: (p) => [process.execPath, apps("cluster.mjs"), "hono", p, workers] },
    { id: "pm2-hono", name: `PM2 -i ${workers} (@hono/node-server)`, pm2: true, cmd: (p) => [apps("listen.mjs"), "-i", workers, "--name", "unicorn-bench-hono", "--", "hono", p] },
    { id: "unicorn-node-N", name: `unicorn node, ${workers} workers`, cmd: (p) => serve("node", p, "-w", workers) },
  ],
  bun: [
    { id: "bun-serve", name: "Bun.serve (bare)", pin: true, cmd: (p) => [bun, bare("bun-serve.ts"), p] },
    { id: "unicorn-bun-1", name: "unicorn bun, 1 worker", pin: true, cmd: (p) => serve("bun", p) },
    { id: "bun-reuseport", name: `Bun.serve reusePort ×${workers}`, procs: Number(workers), cmd: (p) => [bun, bare("bun-serve.ts"), p, "reusePort"] },
    { id: "unicorn-bun-N", name: `unicorn bun, ${workers} workers`, cmd: (p) => serve("bun", p, "-w", workers) },
  ],
  deno: [
    { id: "deno-serve", name: "Deno.serve (bare)", pin: true, cmd: (p) => [deno, "run", "-A", bare("deno-serve.ts"), p] },
    { id: "hono-deno", name: "@hono/node-server on Deno (bare)", pin: true, cmd: (p) => [deno, "run", "-A", bare("hono-node.mjs"), p] },
    { id: "unicorn-deno-1", name: "unicorn deno, 1 worker", pin: true, cmd: (p) => serve("deno", p) },
    { id: "unicorn-deno-native-1", name: "unicorn deno --engine native, 1 worker", pin: true, cmd: (p) => serve("deno", p, "--engine", "native") },
    // --parallel runs DENO_JOBS threads (default: every core), each with its own listener on the port.
    {
      id: "deno-parallel",
      name: `deno serve --parallel (${workers} threads)`,
      env: { DENO_JOBS: workers },
      cmd: (p) => [deno, "serve", "--parallel", "--host", "127.0.0.1", "--port", p, hello],
    },
    { id: "unicorn-deno-N", name: `unicorn deno, ${workers} workers`, cmd: (p) => serve("deno", p, "-w", workers) },
    { id: "unicorn-deno-native-N", name: `unicorn deno --engine native, ${workers} workers`, cmd: (p) => serve("deno", p, "-w", workers, "--engine", "native") },
  ],
};

/** The ratios printed per runtime: [unicorn's case, the case it is held against]. */
const RATIOS = {
  node: [
    ["unicorn-node-1", "node-http"],
    ["unicorn-node-1", "hono-node"],
    ["unicorn-node-N", "node-cluster"],
    ["unicorn-node-N", "pm2"],
    ["unicorn-node-N", "node-cluster-hono"],
    ["unicorn-node-N", "pm2-hono"],
  ],
  bun: [["unicorn-bun-1", "bun-serve"], ["unicorn-bun-N", "bun-reuseport"]],
  deno: [
    ["unicorn-deno-1", "deno-serve"],
    ["unicorn-deno-native-1", "deno-serve"],
    ["unicorn-deno-N", "deno-parallel"],
    ["unicorn-deno-native-N", "deno-parallel"],
  ],
};

/** One round of a case: starts it, measures each mode in turn (after a warm-up in that mode), stops it. */
async function measure(c, order) {
  const port = await freePort();
  const started = performance.now();
  let server;
  try {
    server = await startCase(c, port);
    await waitServing(port, Date.now() + 30_000, (text) => text === "Hello, World!");
    const startup = performance.now() - started;
    const byMode = {};
    for (const mode of order) {
      const close = mode === "close";
      if (Number(values.warmup) > 0) await wrk(port, { connections: values.connections, duration: values.warmup, close });
      const before = treeTicks(...server.pids);
      const result = await wrk(port, { connections: values.connections, duration: values.duration, close });
      const cpuMs = ((treeTicks(...server.pids) - before) * 1000) / CLK_TCK;
      byMode[mode] = { ...result, cpuPer1k: (cpuMs / result.total) * 1000 };
    }
    return { startup, byMode };
  } catch (error) {
    throw new Error(`${c.name}: ${error.message}\n${server?.stderr() ?? ""}${error.stderr ?? ""}`.trim());
  } finally {
    await server?.stop();
  }
}

cleanUpOnSignals();

const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).trim().split("\n")[0];
  } catch {
    return "-";
  }
};

const runtimes = values.only.split(",").filter(Boolean);
for (const rt of runtimes) if (!CASES[rt]) throw new Error(`--only: ${rt}? (node, bun, deno)`);
const match = new RegExp(values.match);
let cases = runtimes.flatMap((rt) => CASES[rt].map((c) => ({ ...c, runtime: rt }))).filter((c) => match.test(c.name));
const skipped = [];
const failures = [];
const results = new Map(cases.map((c) => [c, []]));
try {
  if (cases.some((c) => c.pm2)) {
    const why = preparePm2();
    if (why) {
      console.error(`skipping the PM2 cases: ${why}`);
      for (const c of cases.filter((c) => c.pm2)) skipped.push({ id: c.id, name: c.name, why });
      cases = cases.filter((c) => !c.pm2);
    }
  }
  // Rounds interleave the cases, so a drift in the machine's speed hits all of them alike; the order of
  // the modes alternates between rounds, so that neither always runs on a fresher process.
  for (let round = 0; round < Number(values.runs) && !stopping(); round++) {
    const order = round % 2 ? [...modes].reverse() : modes;
    for (const c of cases) {
      if (stopping()) break;
      try {
        const r = await measure(c, order);
        results.get(c).push(r);
        for (const mode of modes) {
          const m = r.byMode[mode];
          console.error(
            `round ${round + 1} ${c.name}, ${MODES[mode]}: ${m.rps.toFixed(0)} req/s, p99 ${m.p99ms.toFixed(2)} ms, ` +
              `${m.cpuPer1k.toFixed(1)} CPU ms/1k${m.errors ? ` (${m.errors})` : ""}`,
          );
        }
      } catch (error) {
        if (stopping()) break;
        failures.push({ id: c.id, name: c.name, round: round + 1, error: error.message });
        console.error(`round ${round + 1} failed: ${error.message}`);
      }
    }
  }
} finally {
  await cleanUp();
}

const rows = cases.map((c) => {
  const rs = results.get(c);
  const byMode = {};
  for (const mode of modes) {
    const ms = rs.map((r) => r.byMode[mode]);
    byMode[mode] = ms.length
      ? {
          rps: median(ms.map((m) => m.rps)),
          p99ms: median(ms.map((m) => m.p99ms)),
          cpuPer1k: median(ms.map((m) => m.cpuPer1k)),
          errors: ms.map((m) => m.errors).filter(Boolean),
          rounds: ms.map(({ rps, p99ms, cpuPer1k, total }) => ({ rps, p99ms, cpuPer1k, total })),
        }
      : null;
  }
  return { id: c.id, runtime: c.runtime, name: c.name, pinned: !!c.pin, startupMs: rs.length ? median(rs.map((r) => r.startup)) : null, modes: byMode };
});
const rowOf = new Map(rows.map((r) => [r.id, r]));
const ratios = runtimes.flatMap((rt) =>
  RATIOS[rt].flatMap(([a, b]) => {
    const [u, peer] = [rowOf.get(a), rowOf.get(b)];
    if (!u || !peer) return [];
    const byMode = {};
    for (const mode of modes) {
      const [x, y] = [u.modes[mode], peer.modes[mode]];
      // CPU: above 1, unicorn spends more per request; req/s: above 1, unicorn answers more.
      byMode[mode] = x && y ? { cpu: x.cpuPer1k / y.cpuPer1k, rps: x.rps / y.rps } : null;
    }
    return [{ runtime: rt, unicorn: u.name, against: peer.name, modes: byMode }];
  }),
);
const setup = {
  date: new Date().toISOString().slice(0, 10),
  cores: os.availableParallelism(),
  wrk: `wrk -t1 -c${values.connections} -d${values.duration}s on CPU 0, after ${values.warmup}s of warm-up`,
  runs: Number(values.runs),
  workers: Number(workers),
  modes,
  versions: {
    node: process.versions.node,
    bun: runtimes.includes("bun") ? version(bun, ["--version"]) : undefined,
    deno: runtimes.includes("deno") ? version(deno, ["--version"]).replace(/^deno /, "").replace(/ .*/, "") : undefined,
    pm2: cases.some((c) => c.pm2) ? pm2Version() : undefined,
  },
};

if (values.json) {
  console.log(JSON.stringify({ setup, rows, ratios, skipped, failures }, null, 2));
} else {
  const v = Object.entries(setup.versions).filter(([, x]) => x).map(([k, x]) => `${k} ${x}`).join(", ");
  console.log(
    `\n${setup.wrk}, median of ${setup.runs} interleaved rounds; single-process cases pinned to CPU 1; ` +
      `${setup.cores} cores; ${v}; ${setup.date}. CPU: the server's, ms per 1,000 requests.`,
  );
  const fmt = (x, d) => (x == null ? "-" : x.toFixed(d));
  for (const rt of runtimes) {
    const rtRows = rows.filter((r) => r.runtime === rt);
    if (!rtRows.length) continue;
    for (const [i, m] of modes.entries()) {
      console.log(`\n### ${rt}, ${MODES[m]}\n`);
      console.log(`| server | req/s | p99 ms | server CPU ms per 1k requests |${i ? "" : " start to first response ms |"}`);
      console.log(`| --- | --- | --- | --- |${i ? "" : " --- |"}`);
      for (const r of rtRows) {
        const x = r.modes[m];
        console.log(`| ${r.name} | ${fmt(x?.rps, 0)} | ${fmt(x?.p99ms, 2)} | ${fmt(x?.cpuPer1k, 1)} |${i ? "" : ` ${fmt(r.startupMs, 0)} |`}`);
      }
    }
    const rtRatios = ratios.filter((x) => x.runtime === rt);
    if (rtRatios.length) {
      console.log(`\n### ${rt}: unicorn ÷ peer (CPU per request: below 1× unicorn spends less; req/s: above 1× unicorn answers more)\n`);
      console.log(`| unicorn | against | ${modes.map((m) => `${MODES[m]}: CPU | req/s`).join(" | ")} |`);
      console.log(`| --- | --- | ${modes.map(() => "--- | ---").join(" | ")} |`);
      for (const x of rtRatios) {
        const cells = modes.map((m) => (x.modes[m] ? `${x.modes[m].cpu.toFixed(2)}× | ${x.modes[m].rps.toFixed(2)}×` : "- | -"));
        console.log(`| ${x.unicorn} | ${x.against} | ${cells.join(" | ")} |`);
      }
    }
  }
  const errors = rows.flatMap((r) => modes.flatMap((m) => (r.modes[m]?.errors.length ? [`${r.name}, ${MODES[m]}: ${r.modes[m].errors.join("; ")}`] : [])));
  if (errors.length) {
    console.log(`\nwrk reported:\n${errors.map((e) => `- ${e}`).join("\n")}`);
    // wrk keeps a connection whose response has no `Connection: close` (Bun.serve does not echo it),
    // sends the next request, reads the close as an error and reconnects: one read error per request,
    // each answered and counted.
    if (errors.some((e) => e.includes(`${MODES.close}: Socket errors`))) {
      console.log("(read errors with `Connection: close`: a server that closes without answering `Connection: close` " +
        "(Bun) leaves wrk to find the close on its next request; the requests were answered and are counted)");
    }
  }
  for (const s of skipped) console.log(`\nskipped ${s.name}: ${s.why}`);
  for (const f of failures) console.log(`\nfailed ${f.name}, round ${f.round}: ${f.error.split("\n")[0]}`);
}
if (failures.length) process.exitCode = 1;
