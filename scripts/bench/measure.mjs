// What the benchmark scripts share: a free port, a process tree's CPU time, waiting for a server,
// one wrk run, stopping a server's whole process tree, a median.
import { spawn } from "node:child_process";
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

/** Every process in /proc: pid → parent, CPU ticks (user + system) and start time (to tell a reused pid). */
function processes() {
  const stats = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), start: fields[19] });
    } catch {}
  }
  return stats;
}

/** The pids of the roots and all their descendants. */
function tree(stats, roots) {
  const pids = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, s] of stats) if (!pids.has(pid) && pids.has(s.ppid)) (pids.add(pid), (grew = true));
  }
  return pids;
}

/** CPU ticks of the given pids and all their descendants, from /proc (threads are counted in their process). */
export function treeTicks(...roots) {
  const stats = processes();
  let ticks = 0;
  for (const pid of tree(stats, roots)) ticks += stats.get(pid)?.ticks ?? 0;
  return ticks;
}

/** The live processes of the given trees, each as { pid, start }, to signal later without hitting a reused pid. */
export function treeProcesses(...roots) {
  const stats = processes();
  return [...tree(stats, roots)].filter((pid) => stats.has(pid)).map((pid) => ({ pid, start: stats.get(pid).start }));
}

/** Whether a process listed by treeProcesses still runs (the same one: same start time). */
export function stillRunning({ pid, start }) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return fields[19] === start && fields[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Stops a server: TERM to each root, then, if a process of the trees is still there after `grace` ms
 * (a root that ignored TERM, a worker orphaned by its parent), KILL to every one left.
 */
export async function stopTrees(roots, grace = 10_000) {
  const procs = treeProcesses(...roots);
  for (const p of procs.filter((p) => roots.includes(p.pid))) {
    try {
      process.kill(p.pid, "SIGTERM");
    } catch {}
  }
  await killLeft(procs, grace);
}

/** Waits up to `grace` ms for the processes (from treeProcesses) to end, then sends KILL to those left. */
export async function killLeft(procs, grace) {
  const deadline = Date.now() + grace;
  while (procs.some(stillRunning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const p of procs.filter(stillRunning)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
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

/** The wrk processes running now, so that a script stopped by a signal can end them. */
const wrks = new Set();
export function stopWrk() {
  for (const child of wrks) child.kill("SIGKILL");
}

/**
 * One wrk run on CPU 0 against 127.0.0.1: req/s, requests, p99 in ms, and its error lines if any.
 * `close` sends `Connection: close`, so that each request opens a new connection.
 */
export function wrk(port, { connections, duration, close = false }) {
  const args = ["-c", "0", "wrk", "-t1", `-c${connections}`, `-d${duration}s`, "--latency"];
  if (close) args.push("-H", "Connection: close");
  args.push(`http://127.0.0.1:${port}/`);
  return new Promise((resolve, reject) => {
    const child = spawn("taskset", args, { stdio: ["ignore", "pipe", "pipe"] });
    wrks.add(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      wrks.delete(child);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const total = /(\d+) requests in/.exec(out);
      const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
      if (code !== 0 || !rps || !total || !p99) {
        reject(new Error(`wrk ${signal ?? `exit ${code}`}: ${err.trim()}${out.trim() ? `\n${out.trim()}` : ""}`));
        return;
      }
      const errors = [...out.matchAll(/Non-2xx or 3xx responses: \d+|Socket errors: .*/g)].map((m) => m[0]).join(", ");
      resolve({
        rps: Number(rps[1]),
        total: Number(total[1]),
        p99ms: Number(p99[1]) * ({ us: 0.001, ms: 1, s: 1000 })[p99[2]],
        errors,
      });
    });
  });
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
