/**
 * Started by a package manager (npx, `npm start`), which does not pass signals on: the arbiter
 * watches the package manager itself, through the `sh -c` npm runs scripts with, and stops gracefully
 * when it is gone; as a container's PID 1, npm gets a warning. The production forms (`exec
 * node_modules/.bin/unicorn`, the bin itself) get every signal. docs/deploy.md has the measured table.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { Launcher } from "../../src/arbiter/launcher.ts";
import { Logger } from "../../src/log/logger.ts";
import { FakeRuntime } from "../helpers/fake-runtime.ts";
import { request } from "../helpers/http.ts";
import { alive, killAll, ROOT, Server, waitGone } from "../helpers/server.ts";
import { type Installed, installPackage, userEnv } from "./installed-package.ts";

// ---------------------------------------------------------------------------------------------
// The Launcher alone, on a fake /proc

/** A /proc/PID/stat line: STARTTIME is field 22. */
function stat(pid: number, comm: string, ppid: number, start: number, state = "S"): string {
  return `${pid} (${comm}) ${state} ${ppid} ${pid} ${pid} 0 -1 4194560 ${"0 ".repeat(10)}1 0 ${start} 1000 100\n`;
}

function underNpm(proc: Record<number, string>, ppid = 500, agent = "npm/11.19.1 node/v20.20.2 linux x64") {
  const runtime = new FakeRuntime();
  runtime.environment = { npm_command: "exec", npm_lifecycle_event: "npx", npm_config_user_agent: agent };
  runtime.ppid = ppid;
  for (const [pid, line] of Object.entries(proc)) runtime.files.set(`/proc/${pid}/stat`, line);
  const lines: string[] = [];
  const log = new Logger({ level: "debug", sink: (line) => lines.push(line), pid: 1, now: () => new Date(0) });
  return { runtime, lines, launcher: new Launcher(runtime, log, false) };
}

describe("the launcher, on a fake /proc", () => {
  const npmThroughSh = { 500: stat(500, "sh", 400, 7000), 400: stat(400, "npm exec unicor", 300, 6000) };

  test("under `sh -c`, npm itself is watched: its exit stops the arbiter though the shell lives on", () => {
    const { runtime, launcher, lines } = underNpm(npmThroughSh);
    expect(lines.join("\n")).toMatch(/Started by npm \(pid:400, through sh pid:500\): unicorn stops gracefully when it exits/);
    expect(launcher.gone()).toBeUndefined();
    // npm died of HUP: the shell is reparented, the arbiter's parent is still the shell.
    runtime.files.delete("/proc/400/stat");
    runtime.files.set("/proc/500/stat", stat(500, "sh", 1, 7000));
    expect(launcher.gone()).toEqual({ name: "npm", pid: 400 });
    expect(launcher.gone()).toBeUndefined();
  });

  test("npm as a zombie, or its pid taken by another process, is gone; npm alive is not", () => {
    const zombie = underNpm(npmThroughSh);
    zombie.runtime.files.set("/proc/400/stat", stat(400, "npm exec unicor", 300, 6000, "Z"));
    expect(zombie.launcher.gone()).toEqual({ name: "npm", pid: 400 });
    const reused = underNpm(npmThroughSh);
    reused.runtime.files.set("/proc/400/stat", stat(400, "other", 1, 9999));
    expect(reused.launcher.gone()).toEqual({ name: "npm", pid: 400 });
    const living = underNpm(npmThroughSh);
    expect(living.launcher.gone()).toBeUndefined();
  });

  test("through shells that run shells, the package manager is the first process that is not one", () => {
    const { launcher, runtime, lines } = underNpm({
      500: stat(500, "bash", 450, 7100),
      450: stat(450, "sh", 400, 7000),
      400: stat(400, "npm start", 300, 6000),
    });
    expect(lines.join("\n")).toMatch(/Started by npm \(pid:400, through bash pid:500, sh pid:450\)/);
    runtime.files.delete("/proc/400/stat");
    expect(launcher.gone()).toEqual({ name: "npm", pid: 400 });
  });

  test("without /proc, or started by the package manager itself, the parent is watched", () => {
    const bare = underNpm({});
    expect(bare.lines.join("\n")).toMatch(/Started by npm \(parent pid:500\)/);
    expect(bare.launcher.gone()).toBeUndefined();
    bare.runtime.ppid = 1;
    expect(bare.launcher.gone()).toEqual({ name: "npm", pid: 500 });
    const bun = underNpm({ 500: stat(500, "bun", 400, 6000) }, 500, "bun/1.4.5 npm/? node/v24.3.0 linux x64");
    expect(bun.lines.join("\n")).toMatch(/Started by bun \(parent pid:500\)/);
    bun.runtime.files.delete("/proc/500/stat");
    expect(bun.launcher.gone()).toBeUndefined();
    bun.runtime.ppid = 1;
    expect(bun.launcher.gone()).toEqual({ name: "bun", pid: 500 });
  });

  test("npm as PID 1 (a container's command) is warned of; npm elsewhere, or bun as PID 1, is not", () => {
    const pid1 = underNpm({ 500: stat(500, "sh", 1, 7000), 1: stat(1, "npm start", 0, 10) });
    expect(pid1.lines.filter((l) => l.includes("[WARNING]")).join("\n")).toMatch(/npm is PID 1 \(a container's command\): on `docker stop`/);
    expect(underNpm(npmThroughSh).lines.join("\n")).not.toMatch(/PID 1/);
    expect(underNpm({}, 1, "bun/1.4.5").lines.join("\n")).not.toMatch(/PID 1/);
  });

  test("an arbiter not started by a package manager, or started by an old arbiter (USR2), watches nothing", () => {
    const runtime = new FakeRuntime();
    runtime.ppid = 500;
    const log = new Logger({ level: "debug", sink: () => {}, pid: 1, now: () => new Date(0) });
    const plain = new Launcher(runtime, log, false);
    runtime.environment = { npm_command: "exec" };
    const upgraded = new Launcher(runtime, log, true);
    runtime.ppid = 1;
    expect(plain.gone()).toBeUndefined();
    expect(upgraded.gone()).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// The installed package, started as users start it

const NODE_VERSIONS = path.join(ROOT, "test/node-versions/node_modules");
/** This Node, and Node 24 when test/node-versions has it (npm runs on whichever node is first on PATH). */
function nodes(): [string, string][] {
  const list: [string, string][] = [[`node ${process.versions.node}`, process.execPath]];
  const node24 = path.join(NODE_VERSIONS, "node24/bin/node");
  if (fs.existsSync(node24) && !process.version.startsWith("v24.")) list.push(["node 24", node24]);
  return list;
}

let installed: Installed | undefined;

beforeAll(async () => {
  installed = await installPackage(
    { name: "app", version: "1.0.0", private: true, type: "module", scripts: { start: "unicorn app.js -w 2 --no-control-socket" } },
    { "app.js": "export default { fetch: () => new Response(`hello from ${process.pid}\\n`) };\n" },
  );
}, 180_000);

afterEach(killAll);
afterAll(() => installed?.remove());

/** Starts `command` in the project, bound to a port of loopback's choosing (UNICORN_BIND: `npm start` takes no -b). */
function launch(command: string[], node = process.execPath): Server {
  return new Server("node", [], {
    command,
    cwd: installed!.dir,
    env: { ...userEnv(node), UNICORN_BIND: "127.0.0.1:0" },
  });
}

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  return fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => {
    try {
      const text = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]) === pid;
    } catch {
      return false;
    }
  });
}

describe.each(nodes())("installed, on %s", (_name, node) => {
  test("HUP to npx, which dies of it and leaves its sh -c serving, stops the arbiter and its workers gracefully", async () => {
    const server = launch(["npx", "--no-install", "unicorn", "app.js", "-w", "2", "--no-control-socket"], node);
    await server.ready(2);
    const [, npm, shell] = (await server.waitFor(/Started by npm \(pid:(\d+), through sh pid:(\d+)\)/)).map(Number);
    // npx is the process the test started, the one a user's signal reaches.
    expect(npm).toBe(server.pid);
    const arbiter = Number((await server.waitFor(/Listening at: \S+ \((\d+)\)/))[1]);
    const workers = server.workerPids();
    server.signal("SIGHUP");
    expect((await server.exited()).signal).toBe("SIGHUP");
    // Before: the shell and unicorn under it served on, with no one left to stop them.
    await server.waitFor(new RegExp(`The npm process that started unicorn \\(pid:${npm}\\) exited`));
    await server.waitFor(/Handling signal: term; stopping gracefully/);
    expect(await waitGone([shell!, arbiter, ...workers], 10_000)).toEqual([]);
    expect(server.log).toMatch(new RegExp(`Worker \\(pid:${workers[0]}\\) exited`));
  });

  test("TERM to `npm start` stops the arbiter and its workers gracefully", async () => {
    const server = launch(["npm", "start"], node);
    const url = await server.ready(2);
    expect((await request(`${url}/`)).status).toBe(200);
    const arbiter = Number((await server.waitFor(/Listening at: \S+ \((\d+)\)/))[1]);
    const workers = server.workerPids();
    server.signal("SIGTERM");
    await server.waitFor(/Handling signal: term; stopping gracefully/);
    expect(await waitGone([arbiter, ...workers], 10_000)).toEqual([]);
    for (const worker of workers) expect(server.log).toMatch(new RegExp(`Worker \\(pid:${worker}\\) exited`));
  });

  test("exec node_modules/.bin/unicorn, the production form: HUP reloads, TERM stops gracefully with exit 0, nothing watched", async () => {
    const server = launch(["sh", "-c", 'exec node_modules/.bin/unicorn "$@"', "sh", "app.js", "-w", "2", "--no-control-socket"], node);
    const url = await server.ready(2);
    expect(Number((await server.waitFor(/Listening at: \S+ \((\d+)\)/))[1])).toBe(server.pid);
    expect(server.log).not.toMatch(/Started by/);
    server.signal("SIGHUP");
    await server.waitFor(/Reload complete: 2 workers of generation 2 serving/);
    expect((await request(`${url}/`)).status).toBe(200);
    server.signal("SIGTERM");
    expect(await server.exited()).toEqual({ code: 0, signal: null });
  });
});

const pid1 = process.getuid?.() === 0 && fs.existsSync("/usr/bin/unshare") ? test : test.skip;
pid1("npm as a container's PID 1 (unshare --pid) is warned of: TERM to it ends the container before unicorn can drain (needs root and unshare)", async () => {
  // Not a Server: its log's pids are the namespace's, which killAll must not take for this one's. A temp
  // folder of its own: from its namespace every other arbiter's pid looks gone, and a starting arbiter
  // removes the control folders of arbiters that are gone.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-pid1-"));
  const child = spawn("unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", "npm", "start"], {
    cwd: installed!.dir,
    env: { ...userEnv(), UNICORN_BIND: "127.0.0.1:0", TMPDIR: tmp },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const seen = async (pattern: RegExp) => {
    const deadline = Date.now() + 20_000;
    while (!pattern.test(log)) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  child.stdout.on("data", (chunk: Buffer) => (log += chunk));
  child.stderr.on("data", (chunk: Buffer) => (log += chunk));
  try {
    await seen(/is serving[^]*is serving/);
    expect(log).toMatch(/\[WARNING\] npm is PID 1 \(a container's command\): on `docker stop` it exits at once/);
    // docker stop: TERM to the namespace's PID 1, npm. It exits, and the kernel kills the rest with it.
    const [npm] = childrenOf(child.pid!);
    expect(alive(npm!)).toBe(true);
    process.kill(npm!, "SIGTERM");
    expect(await exited).not.toBe(0);
  } finally {
    // --kill-child: npm, PID 1, dies with unshare, and the namespace with it.
    child.kill("SIGKILL");
    await exited;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
