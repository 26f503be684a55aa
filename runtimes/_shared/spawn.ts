/** Starting workers (and a USR2 arbiter) with node:child_process, the same on Node, Bun and Deno. */
import { spawn } from "node:child_process";
import fs from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { SignalName, SpawnSpec, WorkerProcess } from "../../src/runtime.ts";

/**
 * The module beside `base` (an `import.meta.url`) in the form a runtime runs it: a file path for a
 * local module, percent-decoded (a project under "My Projects/" or "josé/"), or the URL itself for a
 * remote one (Deno from JSR). Bundles (`.mjs`, the npm package) run `bundled`, sources `source`.
 */
export function moduleBeside(base: string, bundled: string, source: string): string {
  const url = new URL(base.endsWith(".mjs") ? bundled : source, base);
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
}

/**
 * `spawnWorker` for a runtime whose flags are its `execArgv` (Node, Bun): a worker runs `entry`, a
 * new arbiter (USR2) this one's command line, both with the flags this process was started with.
 */
export function spawnWithExecArgv(entry: string): (spec: SpawnSpec) => WorkerProcess {
  return (spec) =>
    spawnWorker(
      spec.role === "arbiter"
        ? [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)]
        : [process.execPath, ...process.execArgv, entry],
      spec,
    );
}

/** Starts `command` as a worker, in its own session so a terminal's ^C reaches only the arbiter. */
export function spawnWorker(command: readonly string[], spec: SpawnSpec): WorkerProcess {
  // --capture-output: the worker's stdout and stderr append to the error log file.
  const output = spec.output === undefined ? "inherit" : fs.openSync(spec.output, "a");
  let child;
  try {
    child = spawn(command[0]!, command.slice(1), {
      env: spec.env,
      stdio: ["ignore", output, output, ...spec.fds],
      detached: true,
      uid: spec.uid,
      gid: spec.gid,
    });
  } finally {
    if (typeof output === "number") fs.closeSync(output);
  }
  // Before anything can throw: a failed spawn (EMFILE, EAGAIN) also emits "error", which unheard would kill the arbiter.
  child.on("error", () => {});
  if (child.pid === undefined) throw new Error(`cannot start "${command[0]}"`);
  const pid = child.pid;
  let exited: [number | null, string | null] | undefined;
  const listeners: Array<(code: number | null, signal: string | null) => void> = [];
  child.on("exit", (code, signal) => {
    exited = [code, signal];
    for (const listener of listeners) listener(code, signal);
  });
  return {
    pid,
    kill(signal: SignalName) {
      // Once it has exited its pid may belong to another process.
      if (exited) return;
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone: its exit event follows.
      }
    },
    onExit(listener) {
      if (exited) listener(...exited);
      else listeners.push(listener);
    },
  };
}
