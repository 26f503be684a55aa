// The CPU cost of unicorn's HTTP policy per request, measured in-process (no network), on the
// runtime that runs this script:
//
//   node --import tsx scripts/bench/policy.ts    node_modules/.bin/bun scripts/bench/policy.ts
//   node_modules/.bin/deno run -A scripts/bench/policy.ts
//
// "wire" is what the node:http engine runs (Node, Deno): the check of the raw head.
// "native" is what Bun.serve and Deno.serve --engine native run: the check of the Request's headers.
// Each figure is the median of 7 rounds of ns per request, against the same handler unwrapped.
import { defaultHttpSettings } from "../../src/arbiter/http-config.ts";
import { RequestPolicy } from "../../src/http/policy.ts";
import type { EngineInfo } from "../../src/runtime.ts";

const settings = defaultHttpSettings();
// What a browser sends: 9 fields.
const rawHeaders = [
  "Host", "example.com", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
  "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language", "en-US,en;q=0.5",
  "Accept-Encoding", "gzip, deflate, br", "Connection", "keep-alive", "Cookie", "session=0123456789abcdef0123456789abcdef",
  "Upgrade-Insecure-Requests", "1", "Priority", "u=0, i",
];
const headers = new Headers();
for (let i = 0; i < rawHeaders.length; i += 2) headers.append(rawHeaders[i]!, rawHeaders[i + 1]!);
const request = new Request("http://example.com/some/path?query=1", { headers });
const info: EngineInfo = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 }, connection: "c" };
const response = new Response("hello");
const handler = () => response;
const policy = new RequestPolicy(settings);
const wrapped = policy.wrap(handler, () => {});
const N = 200_000;

function round(fn: () => void): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn();
  return ((performance.now() - t0) * 1e6) / N;
}
function median(fn: () => void): number {
  for (let i = 0; i < 3; i++) round(fn); // warm up
  const rounds = Array.from({ length: 7 }, () => round(fn)).sort((a, b) => a - b);
  return rounds[3]!;
}
let sink: unknown;
const base = median(() => (sink = handler()));
const native = median(() => (sink = wrapped(request, info)));
const wire = median(() => (sink = policy.checkWire({ method: "GET", target: "/some/path?query=1", version: "1.1", rawHeaders })));
void sink;
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
console.log(`${runtime}: native check ${(native - base).toFixed(0)} ns/request, wire check ${wire.toFixed(0)} ns/request (9 header fields)`);
