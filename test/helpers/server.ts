/**
 * Starts the real CLI on one runtime and waits on its log lines, never on
 * sleeps. Every process started here is killed by `killAll()`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export type RuntimeName = "node" | "bun" | "deno";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const FIXTURES = path.join(ROOT, "test/fixtures");
const BIN = path.join(ROOT, "node_modules/.bin");

/** The launch command of each runtime, as README gives it. */
export function command(runtime: RuntimeName): string[] {
  switch (runtime) {
    case "node":
      return [process.execPath, path.join(ROOT, "bin/unicorn.mjs")];
    case "bun":
      return [path.join(BIN, "bun"), path.join(ROOT, "mod.ts")];
    case "deno":
      return [path.join(BIN, "deno"), "run", "-A", path.join(ROOT, "mod.ts")];
  }
}

const started = new Set<Server>();
const suiteServers = new Set<Server>();

/** Deadline for one wait, generous for a 2-core machine running three suites. */
export const WAIT_MS = 20_000;

export class Server {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  #waiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void; from: number }> = [];
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = "";

  /** Other processes the test learned of (a USR2 arbiter), killed with the rest. */
  readonly extraPids: number[] = [];
  /** Critical or uncaught lines this test expects (`allow`); any other fails it when it ends. */
  readonly allowed: RegExp[] = [];

  /** Declares lines the test expects that would otherwise fail it: critical, uncaught, unhandled. */
  allow(...patterns: RegExp[]): this {
    this.allowed.push(...patterns);
    return this;
  }

  /** Lines that say something went wrong that no test expected. */
  unexpected(): string[] {
    return this.lines.filter((line) => ALARMING.test(line) && !this.allowed.some((pattern) => pattern.test(line)));
  }

  constructor(
    runtime: RuntimeName,
    args: string[],
    /** `suite`: a server shared by a describe block, killed by `killSuite()` in its afterAll, not by killAll. */
    /** `command`: how to start unicorn instead of the checkout's launch command (an installed package). */
    options: { env?: Record<string, string>; cwd?: string; wrap?: string[]; suite?: boolean; command?: string[] } = {},
  ) {
    const [cmd, ...rest] = [...(options.wrap ?? []), ...(options.command ?? command(runtime))];
    this.child = spawn(cmd!, [...rest, ...args], {
      cwd: options.cwd ?? FIXTURES,
      // As launched directly, not by npm (`npm test` sets these; the arbiter would take vitest for npx).
      env: { ...process.env, npm_lifecycle_event: undefined, npm_command: undefined, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    (options.suite ? suiteServers : started).add(this);
    const onData = (chunk: Buffer) => {
      const text = this.#partial + chunk.toString("utf8");
      const parts = text.split("\n");
      this.#partial = parts.pop()!;
      for (const line of parts) this.#push(line);
    };
    this.child.stderr!.on("data", onData);
    this.child.stdout!.on("data", onData);
    this.#exit = new Promise((resolve) =>
      this.child.on("exit", (code, signal) => {
        if (this.#partial) this.#push(this.#partial);
        resolve({ code, signal });
      })
    );
  }

  #push(line: string): void {
    this.lines.push(line);
    for (const waiter of [...this.#waiters]) {
      const match = line.match(waiter.pattern);
      if (match) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The log so far, for failure messages. */
  get log(): string {
    return this.lines.join("\n");
  }

  /** Resolves with the first line (seen already, or to come) matching `pattern`. */
  waitFor(pattern: RegExp, options: { after?: number; timeout?: number } = {}): Promise<RegExpMatchArray> {
    const from = options.after ?? 0;
    for (const line of this.lines.slice(from)) {
      const match = line.match(pattern);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      const waiter = { pattern, resolve: (m: RegExpMatchArray) => (clearTimeout(timer), resolve(m)), from };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`Timed out waiting for ${pattern}; log:\n${this.log}`));
      }, options.timeout ?? WAIT_MS);
      this.#waiters.push(waiter);
    });
  }

  /** Waits for `count` "is serving" lines and returns the base URL. */
  async ready(count = 1): Promise<string> {
    const [, url] = await this.waitFor(/Listening at: (\S+)/);
    await this.waitForCount(/Worker \(pid:\d+\) is serving/, count);
    return url!;
  }

  /** Waits until `pattern` has matched `count` lines in all. */
  async waitForCount(pattern: RegExp, count: number, timeout = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeout;
    while (this.lines.filter((l) => pattern.test(l)).length < count) {
      const seen = this.lines.length;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${count} x ${pattern}; log:\n${this.log}`);
      await this.waitFor(/./, { after: seen, timeout: left }).catch(() => {});
    }
  }

  /** Worker pids from "Booting worker" lines. */
  workerPids(): number[] {
    return this.lines.flatMap((l) => {
      const m = /Booting worker with pid: (\d+)/.exec(l);
      return m ? [Number(m[1])] : [];
    });
  }

  exited(timeout = WAIT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return Promise.race([
      this.#exit,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`Timed out waiting for exit; log:\n${this.log}`)), timeout).unref()
      ),
    ]);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Whether a process is alive: a zombie (exited, not yet reaped by init after its parent died) is not. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** `pid state command` from /proc, for a failure message. */
export function describeProcess(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return `${pid} ${stat.slice(stat.lastIndexOf(")") + 2).split(" ").slice(0, 2).join(" ppid=")} ${stat.slice(stat.indexOf("("), stat.lastIndexOf(")") + 1)}`;
  } catch {
    return `${pid} gone`;
  }
}

/** Waits, with a deadline, until none of `pids` is alive. */
export async function waitGone(pids: number[], timeout = 5_000): Promise<number[]> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (!pids.some(alive)) return [];
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return pids.filter(alive);
}

/**
 * Kills every server and worker the test started, and what they started (a USR2 arbiter and its
 * workers): servers that exited already are gone through too.
 */
export function killAll(): Promise<void> {
  return killSet(started);
}

/** Kills the servers started with `suite: true`. */
export function killSuite(): Promise<void> {
  return killSet(suiteServers);
}

/** Lines no test should see unless it asks for them. */
const ALARMING = /\[CRITICAL\]|Uncaught|Unhandled/;

async function killSet(set: Set<Server>): Promise<void> {
  const servers = [...set];
  set.clear();
  const unexpected = servers.flatMap((server) => server.unexpected());
  for (const server of servers) {
    const pids = [...server.extraPids, ...server.workerPids()];
    server.child.kill("SIGKILL");
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
  }
  await Promise.all(servers.map((s) => s.exited().catch(() => {})));
  if (unexpected.length) throw new Error(`Unexpected lines in a server's log:\n${unexpected.join("\n")}`);
}

/**
 * Every live process that is a worker of the arbiter `pid`, found by the spec in its environment:
 * also the ones spawned too late for the arbiter to log their pid.
 */
export function workersOf(pid: number): number[] {
  const marker = `"arbiterPid":${pid},`;
  const found: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`, "latin1").includes(marker) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return found;
}
