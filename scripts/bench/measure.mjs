// What the benchmark scripts share: a free port, a process tree's CPU time, waiting for a server,
// one wrk run, a median.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";

/** Clock ticks per second of /proc's CPU times. */
export const CLK_TCK = 100;

export function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** CPU ticks of pid and all its descendants, from /proc. */
export function treeTicks(root) {
  const stats = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {}
  }
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, s] of stats) if (!tree.has(pid) && tree.has(s.ppid)) (tree.add(pid), (grew = true));
  }
  let ticks = 0;
  for (const pid of tree) ticks += stats.get(pid)?.ticks ?? 0;
  return ticks;
}

/** Waits until GET / on the port answers a body that `ready` accepts, or the deadline. */
export async function waitServing(port, deadline, ready) {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      if (ready(await res.text())) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`not serving on ${port}`);
}

/** One wrk run on CPU 0: req/s, requests, p99 in ms, and its error line if any. */
export function wrk(port, { connections, duration }) {
  const out = execFileSync("taskset", ["-c", "0", "wrk", "-t1", `-c${connections}`, `-d${duration}s`, "--latency", `http://127.0.0.1:${port}/`], { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const total = Number(/(\d+) requests in/.exec(out)[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99ms = Number(p99[1]) * ({ us: 0.001, ms: 1, s: 1000 })[p99[2]];
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out)?.[0] ?? "";
  return { rps, total, p99ms, errors };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
