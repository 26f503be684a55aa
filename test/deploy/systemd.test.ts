/**
 * examples/deploy/systemd, run as far as a machine without systemd as PID 1 allows: the units are
 * linted by `systemd-analyze verify`; the service's ExecStart (mapped from /srv/app to a project with
 * the packed tarball installed) runs with a NOTIFY_SOCKET listener standing in for systemd, is
 * reloaded by its ExecReload and stopped with its KillSignal sent as its KillMode says, on Node, Bun
 * and Deno; the socket unit's ListenStream is served under systemd-socket-activate (Node); the sysctl
 * drop-in is applied in a fresh network namespace.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { request } from "../helpers/http.ts";
import { alive, FIXTURES, killAll, ROOT, type RuntimeName, Server, workersOf } from "../helpers/server.ts";
import { freePort, type Installed, installPackage, REPO_BIN, userEnv } from "./installed-package.ts";

const run = promisify(execFile);
const UNITS = path.join(ROOT, "examples/deploy/systemd");
const has = (file: string) => fs.existsSync(file);
const ROOT_USER = process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------
// Unit files

type Unit = Record<string, Record<string, string[]>>;

/**
 * A unit file as systemd reads it: sections, `Key=value` (a key given again adds a value, an empty
 * assignment clears the list), a trailing backslash continuing the line, `#` and `;` comments.
 */
export function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit[header[1]!] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    section[key] = value === "" ? [] : [...(section[key] ?? []), value];
  }
  return unit;
}

/** The one value of a key, or undefined. */
function value(unit: Unit, section: string, key: string): string | undefined {
  return unit[section]?.[key]?.at(-1);
}

/** A command line split as systemd splits it: on whitespace, "double" and 'single' quotes kept together. */
function words(command: string): string[] {
  return [...command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/**
 * unicorn.service with the ExecStart of one runtime: the active one (Node), or the commented
 * alternative whose program is `bun` or `deno`, uncommented in its place.
 */
function serviceFor(runtime: RuntimeName): string {
  const text = fs.readFileSync(path.join(UNITS, "unicorn.service"), "utf8");
  if (runtime === "node") return text;
  const lines = text.split("\n");
  const block = (start: number) => {
    let end = start;
    while (lines[end]!.trimEnd().endsWith("\\")) end++;
    return [start, end] as const;
  };
  const active = lines.findIndex((l) => l.startsWith("ExecStart="));
  const alternative = lines.findIndex((l) => new RegExp(`^#ExecStart=\\S*/${runtime} `).test(l));
  if (active < 0 || alternative < 0) throw new Error(`no ExecStart, or no commented one for ${runtime}`);
  const [a0, a1] = block(active);
  const [b0, b1] = block(alternative);
  for (let i = b0; i <= b1; i++) lines[i] = lines[i]!.replace(/^#/, "");
  for (let i = a0; i <= a1; i++) lines[i] = `#${lines[i]}`;
  return lines.join("\n");
}

/** The paths and port the units name, and what they are on this machine. */
interface Mapping {
  readonly app: string;
  readonly runtimeDir: string;
  readonly port: number;
}

const PROGRAMS: Record<string, string> = {
  "/usr/bin/node": process.execPath,
  "/usr/local/bin/bun": path.join(REPO_BIN, "bun"),
  "/usr/local/bin/deno": path.join(REPO_BIN, "deno"),
};

/** A unit's text with /srv/app, /run/unicorn, the runtimes' paths and port 8000 as they are here. */
function mapUnit(text: string, to: Mapping): string {
  let out = text.replaceAll("/srv/app", to.app).replaceAll("/run/unicorn", to.runtimeDir);
  for (const [from, here] of Object.entries(PROGRAMS)) out = out.replaceAll(`=${from} `, `=${here} `);
  return out.replaceAll("0.0.0.0:8000", `127.0.0.1:${to.port}`);
}

/** The value of `--flag VALUE` in a command line. */
function flag(argv: readonly string[], name: string): string | undefined {
  const index = argv.indexOf(name);
  return index < 0 ? undefined : argv[index + 1];
}

/** Seconds in a systemd time span: "45", "45s", "1min 30s". */
function seconds(span: string): number {
  let total = 0;
  for (const [, n, u] of span.matchAll(/(\d+)\s*(ms|s|sec|min|m|h)?/g)) {
    total += Number(n) * ({ ms: 0.001, s: 1, sec: 1, min: 60, m: 60, h: 3600 }[u ?? "s"] ?? 1);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// A stand-in for systemd's notify socket

class NotifyReceiver {
  readonly path: string;
  readonly messages: string[] = [];
  readonly #child: ChildProcess;
  #waiting: (() => void) | undefined;

  constructor(dir: string) {
    this.path = path.join(dir, "notify.sock");
    this.#child = spawn("/usr/bin/python3", [path.join(FIXTURES, "notify-receiver.py"), this.path]);
    this.#child.stdout!.setEncoding("utf8");
    this.#child.stdout!.on("data", (chunk: string) => {
      this.messages.push(...chunk.trim().split("\n"));
      this.#waiting?.();
    });
  }

  /** Waits, up to 20 s, until `count` messages match `pattern`. */
  async seen(pattern: RegExp, count = 1): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (this.messages.filter((m) => pattern.test(m)).length < count) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} (x${count}) from the notify socket; got:\n${this.messages.join("\n")}`);
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  /** READY, RELOADING and STOPPING, in the order they came. */
  states(): string[] {
    return this.messages.flatMap((m) => /(READY|RELOADING|STOPPING)=1/.exec(m)?.[0] ?? []);
  }

  close(): void {
    this.#child.kill();
  }
}

// ---------------------------------------------------------------------------------------------

let installed: Installed | undefined;
const receivers: NotifyReceiver[] = [];
const temps: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-systemd-"));
  temps.push(dir);
  return dir;
}

beforeAll(async () => {
  installed = await installPackage(
    { name: "app", version: "1.0.0", private: true, type: "module" },
    { "app.js": "export default { fetch: () => new Response(`hello from ${process.pid}\\n`) };\n" },
  );
}, 180_000);

afterEach(async () => {
  for (const receiver of receivers.splice(0)) receiver.close();
  await killAll();
});

afterAll(() => {
  installed?.remove();
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * What systemd would start for the unit: ExecStart mapped to this machine, in WorkingDirectory, with
 * the unit's Environment= (WEB_CONCURRENCY lowered to 2 for a small machine), RUNTIME_DIRECTORY made
 * as RuntimeDirectory= makes it, and NOTIFY_SOCKET. Under systemd-socket-activate (`activate`: its
 * command line before ExecStart), which passes on only PATH, HOME, USER and TERM, these go as -E.
 */
function startService(unit: Unit, notify: NotifyReceiver, activate?: string[]): { server: Server; argv: string[] } {
  const argv = words(value(unit, "Service", "ExecStart")!);
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const assignment of unit.Service!.Environment ?? []) {
    for (const pair of words(assignment)) env[pair.slice(0, pair.indexOf("="))] = pair.slice(pair.indexOf("=") + 1);
  }
  env.WEB_CONCURRENCY = "2";
  env.NOTIFY_SOCKET = notify.path;
  const control = flag(argv, "--control-socket");
  if (control) {
    fs.mkdirSync(path.dirname(control), { mode: 0o700, recursive: true });
    env.RUNTIME_DIRECTORY = path.dirname(control);
  }
  const wrap = activate ? [...activate, ...Object.entries(env).flatMap(([k, v]) => ["-E", `${k}=${v}`])] : [];
  const server = new Server("node", [], {
    command: [...wrap, ...argv],
    cwd: value(unit, "Service", "WorkingDirectory"),
    env: { ...userEnv(), ...env },
  });
  return { server, argv };
}

describe("the unit files", () => {
  const units = () => ({
    service: parseUnit(fs.readFileSync(path.join(UNITS, "unicorn.service"), "utf8")),
    socket: parseUnit(fs.readFileSync(path.join(UNITS, "unicorn.socket"), "utf8")),
  });

  test("the service: Type=notify, HUP reload, TERM to the arbiter alone, a stop timeout above the graceful timeout, no MemoryDenyWriteExecute", () => {
    const { service } = units();
    const get = (key: string) => value(service, "Service", key);
    expect(get("Type")).toBe("notify");
    // systemd-notify, run by an arbiter that is not root, sends with its own pid: "main" would drop READY=1.
    expect(get("NotifyAccess")).toBe("all");
    expect(words(get("ExecReload")!)).toEqual(["/bin/kill", "-HUP", "$MAINPID"]);
    expect(get("KillMode")).toBe("mixed");
    expect(get("KillSignal") ?? "SIGTERM").toBe("SIGTERM");
    const argv = words(get("ExecStart")!);
    // The runtime is the program systemd starts: no npm, npx or sh between it and the arbiter.
    expect(argv[0]).toMatch(/^\/usr\/(local\/)?bin\/node$/);
    expect(argv[1]).toBe("/srv/app/node_modules/unicorn-http/bin/unicorn.mjs");
    const graceful = Number(flag(argv, "--graceful-timeout") ?? 30) + Number(flag(argv, "--shutdown-delay") ?? 0);
    expect(seconds(get("TimeoutStopSec")!)).toBeGreaterThan(graceful);
    // The control socket is in the folder systemd makes for the service.
    expect(path.dirname(flag(argv, "--control-socket")!)).toBe(`/run/${get("RuntimeDirectory")}`);
    // JIT runtimes write code they then run: MemoryDenyWriteExecute= would kill them at start.
    expect(get("MemoryDenyWriteExecute") ?? "no").toBe("no");
    // unicorn reads /proc/net/tcp and /proc/sys: ProcSubset=pid would hide them.
    expect(get("ProcSubset") ?? "all").toBe("all");
    expect(get("RestrictAddressFamilies")!.split(/\s+/).sort()).toEqual(["AF_INET", "AF_INET6", "AF_UNIX"]);
    for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"]) expect(get(key), key).toBe("yes");
    expect(get("ProtectSystem")).toBe("strict");
    expect(get("Restart")).toBe("on-failure");
  });

  test("the Bun and Deno ExecStart lines run the same package with the same options", () => {
    const node = words(value(parseUnit(serviceFor("node")), "Service", "ExecStart")!);
    for (const runtime of ["bun", "deno"] as const) {
      const argv = words(value(parseUnit(serviceFor(runtime)), "Service", "ExecStart")!);
      expect(path.basename(argv[0]!), runtime).toBe(runtime);
      const app = argv.indexOf("app.js");
      expect(argv.slice(app), runtime).toEqual(node.slice(node.indexOf("app.js")));
    }
  });

  test("the socket listens where the service binds, with unicorn's backlog", () => {
    const { service, socket } = units();
    const bind = flag(words(value(service, "Service", "ExecStart")!), "--bind");
    expect(value(socket, "Socket", "ListenStream")).toBe(bind);
    expect(value(socket, "Socket", "Accept") ?? "no").toBe("no");
    expect(value(socket, "Socket", "Backlog")).toBe("2048");
    // No Service=: it starts the service of the same name.
    expect(value(socket, "Socket", "Service")).toBeUndefined();
  });

  const analyze = has("/usr/bin/systemd-analyze") ? test : test.skip;
  analyze("systemd-analyze verify passes the units for each runtime, with nothing to say, and would catch a typo (needs systemd-analyze)", async () => {
    const dir = tempDir();
    const to = { app: installed!.dir, runtimeDir: path.join(dir, "run"), port: 8000 };
    const verify = async (files: string[]) =>
      run("systemd-analyze", ["verify", ...files], { env: { ...process.env, SYSTEMD_LOG_COLOR: "0" } }).then(
        ({ stdout, stderr }) => ({ code: 0, output: `${stdout}${stderr}` }),
        (error) => ({ code: error.code as number, output: `${error.stdout}${error.stderr}` }),
      );
    for (const runtime of ["node", "bun", "deno"] as const) {
      const folder = path.join(dir, runtime);
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, "unicorn.service"), mapUnit(serviceFor(runtime), to));
      fs.writeFileSync(path.join(folder, "unicorn.socket"), mapUnit(fs.readFileSync(path.join(UNITS, "unicorn.socket"), "utf8"), to));
      const result = await verify([path.join(folder, "unicorn.service"), path.join(folder, "unicorn.socket")]);
      expect(result, runtime).toEqual({ code: 0, output: "" });
    }
    // The check has teeth: a misspelt key and a program that is not there are both reported.
    const broken = path.join(dir, "broken", "unicorn.service");
    fs.mkdirSync(path.dirname(broken));
    fs.writeFileSync(broken, mapUnit(serviceFor("node"), to).replace(/^KillMode=/m, "KilMode=").replace(process.execPath, "/nonexistent/node"));
    const caught = await verify([broken]);
    expect(caught.output).toMatch(/Unknown key name 'KilMode'|Unknown key 'KilMode'/);
    expect(caught.output).toMatch(/\/nonexistent\/node is not executable/);
    expect(caught.code).not.toBe(0);
  });

  analyze("systemd-analyze security rates the service's hardening OK or better (needs systemd-analyze)", async () => {
    const dir = tempDir();
    const file = path.join(dir, "unicorn.service");
    fs.writeFileSync(file, mapUnit(serviceFor("node"), { app: installed!.dir, runtimeDir: path.join(dir, "run"), port: 8000 }));
    const { stdout } = await run("systemd-analyze", ["security", "--offline=yes", "--no-pager", file]);
    const exposure = Number(/Overall exposure level for unicorn\.service: ([\d.]+)/.exec(stdout)?.[1]);
    // systemd's scale: below 4 is "OK", below 2 "SAFE"; a unit with no hardening scores 9.6.
    expect(exposure).toBeLessThan(4);
    console.info(`systemd-analyze security: exposure ${exposure}`);
  });
});

const tools = ["/usr/bin/systemd-notify", "/usr/bin/python3"].every(has) ? describe : describe.skip;

tools.each(["node", "bun", "deno"] as const)("unicorn.service on %s (needs systemd-notify and python3)", (runtime) => {
  test("READY=1 from the main pid once the workers serve; ExecReload: RELOADING=1, READY=1, serving; KillSignal to the main pid: STOPPING=1, exit 0 within TimeoutStopSec, no worker left", async () => {
    const dir = tempDir();
    const port = await freePort();
    const text = mapUnit(serviceFor(runtime), { app: installed!.dir, runtimeDir: path.join(dir, "run", "unicorn"), port });
    const unit = parseUnit(text);
    const notify = new NotifyReceiver(dir);
    receivers.push(notify);
    await notify.seen(/^listening$/);

    const { server, argv } = startService(unit, notify);
    const url = await server.ready(2);
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect(server.log).toMatch(new RegExp(`Starting unicorn [\\d.]+ on ${runtime} `));
    // Sent by the arbiter itself, which is the process systemd started: MAINPID.
    await notify.seen(new RegExp(`^pid=${server.pid} READY=1 \\| STATUS=Serving with 2 workers$`));
    expect((await request(`${url}/`)).body).toMatch(/^hello from \d+/);

    // The control socket is in the runtime folder: `unicorn ctl` reaches this server.
    const ctl = await run(process.execPath, [path.join(installed!.dir, "node_modules/unicorn-http/bin/unicorn.mjs"), "ctl",
      "--socket", flag(argv, "--control-socket")!, "status", "--json"]);
    expect(JSON.parse(ctl.stdout)).toMatchObject({ pid: server.pid, workers: 2 });

    // systemctl reload: ExecReload with $MAINPID.
    const reload = words(value(unit, "Service", "ExecReload")!).map((w) => w.replace("$MAINPID", String(server.pid)));
    const first = server.workerPids();
    await run(reload[0]!, reload.slice(1));
    await notify.seen(/RELOADING=1 \| STATUS=Reloading \| MONOTONIC_USEC=\d+/);
    await server.waitFor(/Reload complete: 2 workers of generation 2 serving/);
    await notify.seen(new RegExp(`^pid=${server.pid} READY=1`), 2);
    expect(server.workerPids().filter((pid) => !first.includes(pid))).toHaveLength(2);
    expect((await request(`${url}/`)).status).toBe(200);

    // systemctl stop: KillMode=mixed sends KillSignal to the main pid only.
    const workers = workersOf(server.pid);
    expect(workers.length).toBeGreaterThanOrEqual(2);
    const stopAfter = seconds(value(unit, "Service", "TimeoutStopSec")!);
    const sent = Date.now();
    server.signal((value(unit, "Service", "KillSignal") ?? "SIGTERM") as NodeJS.Signals);
    expect((await server.exited(stopAfter * 1000)).code).toBe(0);
    expect(Date.now() - sent).toBeLessThan(stopAfter * 1000);
    await notify.seen(new RegExp(`^pid=${server.pid} STOPPING=1 \\| STATUS=Stopping gracefully`));
    expect(notify.states()).toEqual(["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
    // Nothing left in the cgroup for KillMode=mixed's final SIGKILL: the workers stopped with the arbiter.
    expect(workers.filter(alive)).toEqual([]);
    expect(fs.existsSync(flag(argv, "--control-socket")!)).toBe(false);
  });
});

const activate = has("/usr/bin/systemd-socket-activate") && ["/usr/bin/systemd-notify", "/usr/bin/python3"].every(has);

/** unicorn.service started by its socket: systemd-socket-activate listens on ListenStream and execs ExecStart on the first connection. */
async function activated(runtime: RuntimeName): Promise<{ server: Server; notify: NotifyReceiver; port: number }> {
  const dir = tempDir();
  const port = await freePort();
  const to = { app: installed!.dir, runtimeDir: path.join(dir, "run", "unicorn"), port };
  const unit = parseUnit(mapUnit(serviceFor(runtime), to));
  const socket = parseUnit(mapUnit(fs.readFileSync(path.join(UNITS, "unicorn.socket"), "utf8"), to));
  const notify = new NotifyReceiver(dir);
  receivers.push(notify);
  await notify.seen(/^listening$/);
  const listen = value(socket, "Socket", "ListenStream")!;
  const { server } = startService(unit, notify, ["/usr/bin/systemd-socket-activate", "-l", listen]);
  await server.waitFor(new RegExp(`Listening on ${listen.replaceAll(".", "\\.")} as 3`));
  return { server, notify, port };
}

describe.each(["node", "bun", "deno"] as const)("unicorn.socket on %s", (runtime) => {
  const serves = activate && runtime === "node" ? test : test.skip;
  serves("the service serves the socket systemd holds, not one of its own, and tells READY=1 from the main pid (Node only: Bun and Deno workers bind their own SO_REUSEPORT sockets and cannot serve an inherited descriptor; needs systemd-socket-activate)", async () => {
    const { server, notify, port } = await activated(runtime);
    // The first connection starts the service; it waits in the socket's queue meanwhile.
    const first = request(`http://127.0.0.1:${port}/`);
    await server.waitFor(/Using the listeners inherited from systemd \(LISTEN_FDS\)/);
    expect((await first).body).toMatch(/^hello from \d+/);
    await server.ready(2);
    // --bind names the same port: it was not bound again (that would have failed: the port is taken).
    expect(server.log).toMatch(/Listener strategy: shared/);
    expect(server.log).not.toMatch(/Cannot bind/);
    await notify.seen(new RegExp(`^pid=${server.pid} READY=1`));
    server.signal("SIGTERM");
    expect((await server.exited()).code).toBe(0);
    await notify.seen(new RegExp(`^pid=${server.pid} STOPPING=1`));
  });

  if (runtime === "node") return;
  (activate ? test : test.skip)("started by the socket, the service refuses it with exit code 2 and says why (needs systemd-socket-activate)", async () => {
    const { server, port } = await activated(runtime);
    const first = request(`http://127.0.0.1:${port}/`).catch((error: Error) => error);
    expect((await server.exited()).code).toBe(2);
    expect(server.log).toMatch(new RegExp(`Cannot serve the sockets inherited from systemd \\(LISTEN_FDS\\) on ${runtime}`));
    await first;
  });
});

const netns = ROOT_USER && ["/usr/bin/unshare", "/usr/sbin/sysctl", "/usr/sbin/ip"].every(has) ? describe : describe.skip;

netns("90-unicorn.conf (needs root, unshare, sysctl and ip: applied in a fresh network namespace)", () => {
  const CONF = path.join(UNITS, "90-unicorn.conf");
  const settings = () =>
    fs.readFileSync(CONF, "utf8").split("\n").filter((l) => l.trim() && !l.startsWith("#")).map((l) => l.split("=").map((s) => s.trim()) as [string, string]);

  test("every key is a kernel setting, and sysctl -p sets each in a namespace where it was not", async () => {
    expect(settings().map(([key]) => key)).toEqual(["net.ipv4.tcp_migrate_req", "net.core.somaxconn"]);
    for (const [key] of settings()) expect(has(`/proc/sys/${key.replaceAll(".", "/")}`), key).toBe(true);
    const keys = settings().map(([key]) => key);
    const read = `sysctl -n ${keys.join(" ")}`;
    const { stdout } = await run("unshare", ["--net", "sh", "-c", `${read} && sysctl -q -p "${CONF}" && ${read}`]);
    const values = stdout.trim().split("\n");
    const before = values.slice(0, keys.length);
    const after = values.slice(keys.length);
    expect(after).toEqual(settings().map(([, v]) => v));
    // A fresh namespace has the kernel's defaults: migration off.
    expect(before[0]).toBe("0");
  });

  test.each([["without it, Bun warns that queued connections are reset", false], ["with it, Bun does not warn", true]] as const)(
    "%s",
    async (_name, applied) => {
      const unicorn = [path.join(REPO_BIN, "bun"), path.join(installed!.dir, "node_modules/unicorn-http/bin/unicorn.mjs"), "app.js",
        "-b", "127.0.0.1:8000", "--no-control-socket"];
      const script = `ip link set lo up && ${applied ? `sysctl -q -p "${CONF}" && ` : ""}exec "$@"`;
      const server = new Server("bun", [], { command: ["unshare", "--net", "sh", "-c", script, "sh", ...unicorn], cwd: installed!.dir, env: userEnv() });
      await server.ready();
      const warned = /set net\.ipv4\.tcp_migrate_req=1 to migrate them/.test(server.log);
      expect(warned).toBe(!applied);
      server.signal("SIGTERM");
      expect((await server.exited()).code).toBe(0);
    },
  );
});
