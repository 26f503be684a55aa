/**
 * The Deno flags the arbiter was started with, so that workers (and a USR2 arbiter) run with the
 * same permissions, config file, import map, `--sloppy-imports`, `--unstable-*` and the rest:
 * never `-A` when the user gave less.
 *
 * Deno exposes no `execArgv`. Its command line is in /proc/self/cmdline, which Deno lets only a
 * process with all permissions read; a narrower arbiter (it must have --allow-run, to spawn
 * workers) asks `deno eval`, which runs with all permissions, to read it for it.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import process from "node:process";

const Deno = (globalThis as unknown as {
  Deno: {
    args: string[];
    permissions: { querySync(descriptor: { name: string }): { state: string } };
  };
}).Deno;

/** Flags a worker must not repeat: a watcher restarts the arbiter, an inspector port is taken once. */
const ARBITER_ONLY = /^--(watch|watch-hmr|watch-exclude|no-clear-screen|inspect|inspect-brk|inspect-wait)(=|$)/;
const PERMISSIONS = ["read", "write", "net", "env", "run", "sys", "ffi", "import"];

/** How Deno was started: its flags, the script (a path, a URL, `npm:` or `jsr:`), and its arguments. */
export interface DenoCommandLine {
  readonly flags: readonly string[];
  readonly script: string;
  readonly args: readonly string[];
}

function readCmdline(): string[] | undefined {
  const split = (text: string) => text.split("\0").slice(0, -1);
  try {
    return split(fs.readFileSync("/proc/self/cmdline", "utf8"));
  } catch {
    // Not all permissions: fall through.
  }
  try {
    const read = `Deno.stdout.writeSync(Deno.readFileSync("/proc/${process.pid}/cmdline"))`;
    return split(execFileSync(process.execPath, ["eval", read], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch {
    return undefined;
  }
}

let cached: DenoCommandLine | undefined;

/** This process's command line, split; from its permissions alone when the line cannot be read. */
export function commandLine(): DenoCommandLine {
  if (cached) return cached;
  const args = Deno.args;
  const argv = readCmdline();
  if (argv && argv.length >= args.length + 2) {
    const start = argv[1] === "run" ? 2 : 1;
    const scriptAt = argv.length - args.length - 1;
    cached = { flags: argv.slice(start, scriptAt), script: argv[scriptAt]!, args };
  } else {
    // The permissions granted in full are known; scoped ones (--allow-read=DIR) cannot be listed.
    const flags = PERMISSIONS.filter((name) => Deno.permissions.querySync({ name }).state === "granted")
      .map((name) => `--allow-${name}`);
    cached = { flags, script: process.argv[1]!, args };
  }
  return cached;
}

/** The flags a worker runs with: the arbiter's, less the arbiter-only ones, plus what serving needs. */
export function workerFlags(): string[] {
  const flags = commandLine().flags.filter((flag) => !ARBITER_ONLY.test(flag));
  // Deno.serve and node:net need --unstable-net for SO_REUSEPORT; a worker never prompts.
  if (!flags.some((f) => f === "--unstable-net" || f === "--unstable")) flags.push("--unstable-net");
  if (!flags.includes("--no-prompt")) flags.push("--no-prompt");
  return flags;
}
