// The servers a benchmark starts: each case's processes (or PM2's), stopped with their whole process
// trees, also when the benchmark is interrupted.
import { spawn } from "node:child_process";
import path from "node:path";
import { stopTrees, stopWrk } from "./measure.mjs";
import { pm2CleanUp, pm2Kill, pm2Start } from "./pm2.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The servers running now, for the clean-up on a signal: each with its stop(). */
const running = new Set();
let cleaning;

/** Whether the benchmark is stopping (a signal, or its end): no new case starts. */
export const stopping = () => cleaning !== undefined;

/**
 * Starts a case (`cmd(port)`, pinned to CPU 1 with `pin`, `procs` copies, extra `env`; or through PM2
 * with `pm2`); returns the pids whose process trees are the server, and how to stop it.
 */
export async function startCase(c, port) {
  if (cleaning) throw new Error("stopping");
  if (c.pm2) {
    let pid;
    try {
      pid = pm2Start(c.cmd(String(port)));
    } catch (error) {
      await pm2Kill();
      throw error;
    }
    const server = { pids: [pid], stderr: () => "", stop: async () => (running.delete(server), await pm2Kill()) };
    running.add(server);
    return server;
  }
  const [cmd, ...args] = [...(c.pin ? ["taskset", "-c", "1"] : []), ...c.cmd(String(port))];
  const children = [];
  let stderr = "";
  for (let i = 0; i < (c.procs ?? 1); i++) {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], cwd: ROOT, env: { ...process.env, ...c.env } });
    child.stderr.on("data", (d) => (stderr += d));
    children.push(child);
  }
  const server = {
    pids: children.map((child) => child.pid),
    stderr: () => stderr,
    stop: async () => {
      running.delete(server);
      await stopTrees(children.filter((child) => child.exitCode === null && child.signalCode === null).map((child) => child.pid));
    },
  };
  running.add(server);
  return server;
}

/** Stops wrk, every server and PM2's daemon; once. */
export function cleanUp() {
  cleaning ??= (async () => {
    stopWrk();
    await Promise.all([...running].map((s) => s.stop()));
    await pm2CleanUp();
  })();
  return cleaning;
}

/** INT, TERM and HUP stop everything the benchmark started, then exit 130. */
export function cleanUpOnSignals() {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, async () => {
      console.error(`\n${signal}: stopping the servers`);
      await cleanUp();
      process.exit(130);
    });
  }
}
