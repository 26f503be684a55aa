/**
 * Two instances behind a real load balancer on loopback, under continuous load (kept-alive and fresh
 * connections, GETs and POSTs), through scripts/lb/rolling.mjs: a rolling restart behind HAProxy (each
 * instance leaves the balancer through its health endpoint and --shutdown-delay before its listener
 * closes) and a rolling HUP behind HAProxy and nginx lose no request, on each runtime.
 *
 * nginx and HAProxy come from Debian (nginx-light, haproxy; `.ci/run` installs them): without one, its
 * tests are skipped with the reason in their names. A plain TERM behind open-source nginx is not asserted:
 * nginx keeps sending until the listener closes, and the kernel resets what is queued on the last one
 * (docs/deploy.md gives the figures).
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { ROOT } from "../helpers/server.ts";

const RUNTIMES = ["node", "bun", "deno"] as const;
const has = (binary: string) =>
  (process.env.PATH ?? "").split(":").concat("/usr/sbin", "/usr/bin").some((dir) => fs.existsSync(path.join(dir, binary)));

interface Result {
  requests: number;
  failed: number;
  get: number;
  post: number;
  failures: Record<string, number>;
  drains: { instance: string; ms: number; code: number }[];
  hups: { instance: string; ms: number; downs: number }[];
}

const running = new Set<ChildProcess>();
afterEach(() => {
  // The script kills its balancer and instances when it is sent TERM.
  for (const child of running) child.kill("SIGTERM");
  running.clear();
});

/** Runs the script to its end (it stops by itself) and returns its figures. */
function rolling(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "scripts/lb/rolling.mjs"), "--json", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    child.on("exit", (code) => {
      running.delete(child);
      const line = out.trim().split("\n").pop() ?? "";
      if (!line.startsWith("{")) return reject(new Error(`rolling.mjs ${args.join(" ")} exited ${code}:\n${err}`));
      resolve(JSON.parse(line) as Result);
    });
  });
}

function expectNoLoss(result: Result, restarts: boolean): void {
  expect(result.failures).toEqual({});
  expect(result.failed).toBe(0);
  // The load ran through every step: both kinds of request, in numbers (fewer on a loaded machine).
  expect(result.get).toBeGreaterThan(50);
  expect(result.post).toBeGreaterThan(50);
  expect(result.hups.map((h) => h.instance)).toEqual(["A", "B"]);
  // A reload leaves the instance in the balancer: its old workers' health path still says 200.
  expect(result.hups.map((h) => h.downs)).toEqual([0, 0]);
  if (restarts) {
    expect(result.drains.map((d) => [d.instance, d.code])).toEqual([["A", 0], ["B", 0]]);
  }
}

for (const runtime of RUNTIMES) {
  describe(`${runtime}: behind a load balancer`, () => {
    const haproxy = has("haproxy") ? test : test.skip;
    haproxy(`HAProxy: a rolling restart and a rolling HUP under load lose no request${has("haproxy") ? "" : " (skipped: needs haproxy)"}`, async () => {
      const result = await rolling(["--runtime", runtime, "--balancer", "haproxy"]);
      expectNoLoss(result, true);
      // Each instance stayed up for --shutdown-delay (1.5 s) while HAProxy took it out.
      for (const drain of result.drains) expect(drain.ms).toBeGreaterThanOrEqual(1500);
    }, 120_000);

    if (runtime === "deno") {
      // Deno.serve's shutdown resets connections it accepted and has not read yet (10 stops of a reuse-port
      // Deno.serve under new connections: 60 to 72 resets; node:http on Deno: 0), so a HUP's old worker can
      // lose one while the balancer keeps opening connections to the instance (3 requests in 24 HUPs:
      // docs/deploy.md). The restart takes the instance out of the balancer first: nothing
      // arrives when Deno.serve stops, and nothing may be lost.
      haproxy(`HAProxy, Deno.serve engine: a rolling restart under load loses no request; a rolling HUP keeps the instance in and loses 2 at most (Deno.serve's stop resets a connection it accepted in its last instant)${has("haproxy") ? "" : " (skipped: needs haproxy)"}`, async () => {
        const result = await rolling(["--runtime", runtime, "--engine", "native", "--balancer", "haproxy"]);
        const lost = Object.entries(result.failures);
        expect(lost.filter(([step]) => !/during (after )?HUP /.test(step))).toEqual([]);
        expect(result.failed).toBeLessThanOrEqual(2);
        expect(result.get).toBeGreaterThan(50);
        expect(result.post).toBeGreaterThan(50);
        expect(result.hups.map((h) => [h.instance, h.downs])).toEqual([["A", 0], ["B", 0]]);
        expect(result.drains.map((d) => [d.instance, d.code])).toEqual([["A", 0], ["B", 0]]);
      }, 120_000);
    }

    const nginx = has("nginx") ? test : test.skip;
    nginx(`nginx: a rolling HUP under load loses no request${has("nginx") ? "" : " (skipped: needs nginx)"}`, async () => {
      expectNoLoss(await rolling(["--runtime", runtime, "--balancer", "nginx", "--steps", "hup"]), false);
    }, 120_000);
  });
}
