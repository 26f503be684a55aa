// The CPU cost of the request counts behind `unicorn ctl`, Prometheus and StatsD, per request, measured
// in-process (no network) on the runtime that runs this script:
//
//   node --import tsx scripts/bench/stats.ts    node_modules/.bin/bun scripts/bench/stats.ts
//   node_modules/.bin/deno run -A scripts/bench/stats.ts
//
// The counting stage around a handler that answers at once, and around one that answers with a
// promise (each async response costs a closure), against the same handler unwrapped; and a heartbeat's
// snapshot. Medians of 7 rounds, in ns.
import { counted } from "../../src/worker/pipeline.ts";
import { RequestStats } from "../../src/worker/stats.ts";
import type { EngineInfo } from "../../src/runtime.ts";

const request = new Request("http://example.com/some/path?query=1");
const info: EngineInfo = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 } };
const response = new Response("hello");
const sync = () => response;
const resolved = Promise.resolve(response);
const async = () => resolved;
const N = 200_000;

function median(fn: () => unknown, n = N): number {
  const round = () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    return ((performance.now() - t0) * 1e6) / n;
  };
  for (let i = 0; i < 3; i++) round();
  return Array.from({ length: 7 }, round).sort((a, b) => a - b)[3]!;
}

async function medianAsync(fn: () => Promise<unknown>, n = N / 4): Promise<number> {
  const round = async () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn();
    return ((performance.now() - t0) * 1e6) / n;
  };
  for (let i = 0; i < 3; i++) await round();
  const rounds: number[] = [];
  for (let i = 0; i < 7; i++) rounds.push(await round());
  return rounds.sort((a, b) => a - b)[3]!;
}

const stats = new RequestStats();
const countedSync = counted(sync, stats);
const countedAsync = counted(async, stats);
const bare = median(() => sync());
const withCounts = median(() => countedSync(request, info));
const bareAsync = await medianAsync(() => async());
const withCountsAsync = await medianAsync(() => countedAsync(request, info) as Promise<Response>);
const snapshot = median(() => stats.snapshot(), 20_000);
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
console.log(`${runtime}: counting a request: ${(withCounts - bare).toFixed(0)} ns (sync response), ` +
  `${(withCountsAsync - bareAsync).toFixed(0)} ns (async response); a heartbeat's snapshot: ${snapshot.toFixed(0)} ns`);
