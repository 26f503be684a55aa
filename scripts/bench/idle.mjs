#!/usr/bin/env node
// Memory of idle keep-alive connections, per runtime and engine: starts each server, warms it up, reads
// the RSS of the process that serves (for unicorn, its one worker), opens N keep-alive connections that
// each send one request and read its answer, leaves them idle, waits for the RSS to settle, and prints
// KiB per connection (the growth divided by N). With --load, wrk runs against the server first, and the
// RSS after that load is printed too (Deno's default engine against Deno.serve).
//
//   node scripts/bench/idle.mjs [--connections 2000] [--runs 3] [--only node,bun,deno] [--match REGEX]
//     [--warmup 2000] [--load] [--load-duration 10] [--load-connections 50] [--quiet 20] [--settle 60]
//     [--node-main PATH] [--json]
//
// Needs Linux (/proc), `wrk` for --load, and a hard limit on open files above N (Node raises its own
// soft limit to the hard one; the servers inherit it): `ulimit -Hn` of 20000 does for the default.
// Every server listens on 127.0.0.1 and is stopped after its case, also on an error or Ctrl-C.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freePort, median, waitServing, wrk } from "./measure.mjs";
import { cleanUp, cleanUpOnSignals, startCase, stopping } from "./servers.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "2000" },
    runs: { type: "string", default: "3" },
    only: { type: "string", default: "node,bun,deno" },
    // Only the cases whose name matches: --match "node:http"
    match: { type: "string", default: "" },
    // wrk before the idle connections: the RSS after load.
    load: { type: "boolean", default: false },
    "load-duration": { type: "string", default: "10" },
    "load-connections": { type: "string", default: "50" },
    // Requests sent (over 10 connections, closed after) before the first RSS is read, so that the code
    // paths are compiled and the heap has grown to its working size: the growth is the connections'.
    warmup: { type: "string", default: "2000" },
    // Each RSS figure is read after at least --quiet seconds without traffic, once the last 5 s hold
    // still, or at the --settle deadline (seconds). V8 gives garbage back some 10 to 40 s after the
    // traffic stops: read too early, an RSS holds the last requests' garbage.
    quiet: { type: "string", default: "20" },
    settle: { type: "string", default: "60" },
    // unicorn on Node from another build (a bin or dist/node/main.mjs), for an A/B of a change without
    // rebuilding dist/.
    "node-main": { type: "string", default: path.join(ROOT, "bin/unicorn.mjs") },
    json: { type: "boolean", default: false },
  },
});
const N = Number(values.connections);
const quietMs = Number(values.quiet) * 1000;
const settleMs = Math.max(Number(values.settle) * 1000, quietMs);
const log = (line) => console.error(line);

// Each connection is a descriptor in this process and in the server's.
const hardLimit = (() => {
  const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const [soft, hard] = line.trim().split(/\s+/).slice(3, 5);
  return { soft: soft === "unlimited" ? Infinity : Number(soft), hard: hard === "unlimited" ? Infinity : Number(hard) };
})();
if (hardLimit.soft < N + 200) {
  console.error(`open files limited to ${hardLimit.soft} (hard ${hardLimit.hard}); ${N} connections need ${N + 200}: raise it (ulimit -n) or lower --connections`);
  process.exit(2);
}
if (!fs.existsSync(path.join(ROOT, "dist/node/main.mjs"))) {
  console.error("dist/ is missing: `npm run build` first (unicorn on Node runs the built bundle)");
  process.exit(2);
}

const hello = path.join(ROOT, "scripts/bench/hello.mjs");
const bare = (name) => path.join(ROOT, "scripts/bench/bare", name);
const bun = path.join(BIN, "bun");
const deno = path.join(BIN, "deno");
const unicorn = {
  node: [process.execPath, values["node-main"]],
  bun: [bun, path.join(ROOT, "mod.ts")],
  deno: [deno, "run", "-A", path.join(ROOT, "mod.ts")],
};
// Idle connections must outlive the measurement: unicorn's --keep-alive, and the bare servers' own
// idle timeouts (node:http's 5 s, Bun.serve's 10 s) raised through BENCH_KEEP_ALIVE_S.
const KEEP_ALIVE_S = "300";
const serve = (rt, p, ...more) => [
  ...unicorn[rt], hello, "-w", "1", "--keep-alive", KEEP_ALIVE_S, "--worker-connections", String(Math.max(5000, N + 100)),
  ...more, "-b", `127.0.0.1:${p}`, "--log-level", "warning",
];
const env = { BENCH_KEEP_ALIVE_S: KEEP_ALIVE_S };

/** Each case: a command taking the port; `unicorn`: the serving process is the arbiter's one child. */
const CASES = {
  node: [
    { id: "node-http", name: "node:http (bare)", cmd: (p) => [process.execPath, bare("node-http.mjs"), p] },
    { id: "unicorn-node", name: "unicorn node", unicorn: true, cmd: (p) => serve("node", p) },
  ],
  bun: [
    { id: "bun-serve", name: "Bun.serve (bare)", cmd: (p) => [bun, bare("bun-serve.ts"), p] },
    { id: "unicorn-bun", name: "unicorn bun", unicorn: true, cmd: (p) => serve("bun", p) },
  ],
  deno: [
    { id: "deno-serve", name: "Deno.serve (bare)", cmd: (p) => [deno, "run", "-A", bare("deno-serve.ts"), p] },
    { id: "deno-node-http", name: "node:http on Deno (bare)", cmd: (p) => [deno, "run", "-A", bare("node-http.mjs"), p] },
    { id: "unicorn-deno", name: "unicorn deno (default engine, node:http)", unicorn: true, cmd: (p) => serve("deno", p) },
    { id: "unicorn-deno-native", name: "unicorn deno --engine native", unicorn: true, cmd: (p) => serve("deno", p, "--engine", "native") },
  ],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resident set size of a process, in KiB. */
function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]);
}

/** The children of a process (every thread's), from /proc. */
function childrenOf(pid) {
  const kids = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      kids.push(...fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {}
  }
  return kids;
}

/** unicorn's worker: the arbiter's one child (-w 1), once it is there. */
async function workerOf(arbiter, deadline) {
  while (Date.now() < deadline) {
    const kids = childrenOf(arbiter);
    if (kids.length === 1) return kids[0];
    if (kids.length > 1) throw new Error(`the arbiter ${arbiter} has ${kids.length} children: ${kids.join(", ")}`);
    await sleep(20);
  }
  throw new Error(`no worker under ${arbiter}`);
}

/**
 * Reads the RSS every 250 ms, for at least --quiet seconds, until the last 5 s hold still (within
 * max(512 KiB, 1 %): a unicorn worker's own timers move it by some 0.5 MB), or the --settle deadline.
 * Returns the median of the last 5 s and whether it settled.
 */
async function settledRss(pid) {
  const start = Date.now();
  const window = 20;
  const seen = [];
  for (;;) {
    seen.push(rssKiB(pid));
    const last = seen.slice(-window);
    const spread = Math.max(...last) - Math.min(...last);
    const still = last.length === window && spread <= Math.max(512, last.at(-1) * 0.01);
    const now = Date.now();
    if ((still && now - start >= quietMs) || now - start >= settleMs) return { kib: median(last), settled: still };
    await sleep(250);
  }
}

const REQUEST = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/**
 * One keep-alive connection that has sent one request and read its whole answer (Content-Length or
 * chunked); resolves with the socket, left open and idle. `onClose` hears a close by the server later.
 */
function idleConnection(port, onClose) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let buffered = "";
    let done = false;
    const fail = (error) => {
      if (done) return;
      done = true;
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error("no answer in 15 s")), 15_000);
    socket.setEncoding("latin1");
    socket.once("connect", () => socket.write(REQUEST));
    socket.on("error", fail);
    socket.once("close", () => (done ? onClose() : fail(new Error(`closed before the answer: ${JSON.stringify(buffered.slice(0, 80))}`))));
    const onData = (chunk) => {
      buffered += chunk;
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buffered.slice(0, end);
      if (!/^HTTP\/1\.1 200 /.test(head)) return fail(new Error(`answered ${JSON.stringify(head.split("\r\n")[0])}`));
      if (/\r\nconnection:\s*close/i.test(head)) return fail(new Error("answered with Connection: close"));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const body = buffered.length - end - 4;
      const complete = length ? body >= Number(length[1]) : /\r\ntransfer-encoding:\s*chunked/i.test(head) && buffered.endsWith("0\r\n\r\n");
      if (!complete) return;
      done = true;
      clearTimeout(timer);
      socket.off("data", onData);
      buffered = "";
      resolve(socket);
    };
    socket.on("data", onData);
  });
}

/** Opens `count` idle connections, `parallel` at a time (more would overflow a listen backlog). */
async function openIdle(port, count, onClose, parallel = 64) {
  const sockets = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      sockets.push(await idleConnection(port, onClose));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
  } catch (error) {
    for (const s of sockets) s.destroy();
    throw error;
  }
  return sockets;
}

/** `total` requests over `lanes` keep-alive connections, closed after. */
async function warmUp(port, total, lanes = 10) {
  const per = Math.ceil(total / lanes);
  await Promise.all(Array.from({ length: lanes }, async () => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.setEncoding("latin1");
    await new Promise((resolve, reject) => (socket.once("connect", resolve), socket.once("error", reject)));
    let answered = 0;
    let buffered = "";
    await new Promise((resolve, reject) => {
      socket.once("close", () => reject(new Error(`closed after ${answered} warm-up answers`)));
      socket.on("data", (chunk) => {
        buffered += chunk;
        // hello.mjs answers 13 bytes: an answer ends with its body.
        for (let at; (at = buffered.indexOf("Hello, World!")) >= 0;) {
          buffered = buffered.slice(at + 13);
          if (++answered === per) return resolve();
          socket.write(REQUEST);
        }
      });
      socket.write(REQUEST);
    });
    socket.removeAllListeners("close");
    socket.destroy();
  }));
}

/** One round of a case: RSS at rest, (after load,) with N idle connections; KiB per connection. */
async function measure(c) {
  const port = await freePort();
  let server;
  let sockets = [];
  try {
    server = await startCase({ ...c, env }, port);
    const deadline = Date.now() + 30_000;
    await waitServing(port, deadline, (text) => text === "Hello, World!");
    const pid = c.unicorn ? await workerOf(server.pids[0], deadline) : server.pids[0];
    const r = { pid };
    let base;
    if (values.load) {
      r.startKiB = rssKiB(pid);
      // The highest RSS under load, read every 250 ms.
      r.peakKiB = r.startKiB;
      const peak = setInterval(() => (r.peakKiB = Math.max(r.peakKiB, rssKiB(pid))), 250);
      try {
        r.loadRps = (await wrk(port, { connections: values["load-connections"], duration: values["load-duration"] })).rps;
      } finally {
        clearInterval(peak);
      }
      // The RSS after load is also the one the idle connections are measured from.
      base = await settledRss(pid);
      r.afterLoadKiB = base.kib;
    } else {
      if (Number(values.warmup) > 0) await warmUp(port, Number(values.warmup));
      base = await settledRss(pid);
    }
    let closed = 0;
    sockets = await openIdle(port, N, () => closed++);
    const idle = await settledRss(pid);
    Object.assign(r, {
      baseKiB: base.kib,
      idleKiB: idle.kib,
      settled: base.settled && idle.settled,
      perConnKiB: (idle.kib - base.kib) / N,
      closedByServer: closed,
    });
    if (c.unicorn) r.arbiterKiB = rssKiB(server.pids[0]);
    return r;
  } catch (error) {
    throw new Error(`${c.name}: ${error.message}\n${server?.stderr() ?? ""}`.trim());
  } finally {
    for (const s of sockets) s.destroy();
    await server?.stop();
  }
}

cleanUpOnSignals();

const runtimes = values.only.split(",").filter(Boolean);
for (const rt of runtimes) if (!CASES[rt]) throw new Error(`--only: ${rt}? (node, bun, deno)`);
const match = new RegExp(values.match);
const cases = runtimes.flatMap((rt) => CASES[rt].map((c) => ({ ...c, runtime: rt }))).filter((c) => match.test(c.name));
const results = new Map(cases.map((c) => [c, []]));
const failures = [];
const MB = (kib) => kib / 1024;
try {
  // Rounds interleave the cases, as run.mjs does.
  for (let round = 0; round < Number(values.runs) && !stopping(); round++) {
    for (const c of cases) {
      if (stopping()) break;
      try {
        const r = await measure(c);
        results.get(c).push(r);
        log(
          `round ${round + 1} ${c.name}: ${r.perConnKiB.toFixed(1)} KiB per idle connection ` +
            `(${MB(r.baseKiB).toFixed(1)} → ${MB(r.idleKiB).toFixed(1)} MB)` +
            (values.load ? `, ${MB(r.afterLoadKiB).toFixed(1)} MB after load (${MB(r.startKiB).toFixed(1)} before, ${MB(r.peakKiB).toFixed(1)} at the peak)` : "") +
            (r.settled ? "" : ", RSS still moving at the deadline") +
            (r.closedByServer ? `, ${r.closedByServer} connections closed by the server` : ""),
        );
      } catch (error) {
        if (stopping()) break;
        failures.push({ id: c.id, name: c.name, round: round + 1, error: error.message });
        log(`round ${round + 1} failed: ${error.message}`);
      }
    }
  }
} finally {
  await cleanUp();
}

const med = (rs, key) => (rs.length && rs.every((r) => r[key] !== undefined) ? median(rs.map((r) => r[key])) : null);
const rows = cases.map((c) => {
  const rs = results.get(c);
  return {
    id: c.id,
    runtime: c.runtime,
    name: c.name,
    perConnKiB: med(rs, "perConnKiB"),
    baseKiB: med(rs, "baseKiB"),
    idleKiB: med(rs, "idleKiB"),
    startKiB: med(rs, "startKiB"),
    peakKiB: med(rs, "peakKiB"),
    afterLoadKiB: med(rs, "afterLoadKiB"),
    arbiterKiB: med(rs, "arbiterKiB"),
    rounds: rs,
  };
});
const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).trim().split("\n")[0];
  } catch {
    return "-";
  }
};
const setup = {
  date: new Date().toISOString().slice(0, 10),
  cores: os.availableParallelism(),
  connections: N,
  runs: Number(values.runs),
  warmup: values.load ? null : Number(values.warmup),
  load: values.load ? `wrk -t1 -c${values["load-connections"]} -d${values["load-duration"]}s` : null,
  versions: {
    node: process.versions.node,
    bun: runtimes.includes("bun") ? version(bun, ["--version"]) : undefined,
    deno: runtimes.includes("deno") ? version(deno, ["--version"]).replace(/^deno /, "").replace(/ .*/, "") : undefined,
  },
};

if (values.json) {
  console.log(JSON.stringify({ setup, rows, failures }, null, 2));
} else {
  const v = Object.entries(setup.versions).filter(([, x]) => x).map(([k, x]) => `${k} ${x}`).join(", ");
  const after = values.load ? `after ${setup.load}` : `after ${setup.warmup} warm-up requests`;
  console.log(`\n${N} idle keep-alive connections, ${after}; RSS of the serving process (unicorn: its worker), median of ${setup.runs} rounds; ${v}; ${setup.date}.\n`);
  const fmt = (x, d) => (x == null ? "-" : x.toFixed(d));
  const mb = (kib) => (kib == null ? "-" : MB(kib).toFixed(1));
  // With --load, the RSS after load is the one the connections are measured from.
  const before = values.load ? "RSS at start MB | peak RSS under load MB | RSS after load MB" : "RSS before MB";
  console.log(`| server | KiB per idle connection | ${before} | RSS with ${N} idle MB |`);
  console.log(`| --- | --- | --- |${values.load ? " --- | --- |" : ""} --- |`);
  for (const r of rows) {
    const cells = values.load ? `${mb(r.startKiB)} | ${mb(r.peakKiB)} | ${mb(r.afterLoadKiB)}` : mb(r.baseKiB);
    console.log(`| ${r.name} | ${fmt(r.perConnKiB, 1)} | ${cells} | ${mb(r.idleKiB)} |`);
  }
  for (const f of failures) console.log(`\nfailed ${f.name}, round ${f.round}: ${f.error.split("\n")[0]}`);
}
if (failures.length) process.exitCode = 1;
