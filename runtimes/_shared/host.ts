/**
 * The host: what the port needs from the process, its files and signals, the control channel and
 * the source watcher, through node:process, node:fs and node:net, which Node, Bun and Deno all
 * implement the same way for what unicorn uses.
 */
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { BindAddress } from "../../src/config/bind.ts";
import type { ControlServer, Host, LogFile } from "../../src/runtime.ts";
import { connectControl, listenControl } from "./channel.ts";
import { watchSources } from "./watch.ts";

/** A log file opened for appending; reopened by path on USR1, as logrotate expects. */
function openLogFile(target: string): LogFile {
  let fd = fs.openSync(target, "a");
  return {
    write(line) {
      fs.writeSync(fd, `${line}\n`);
    },
    reopen() {
      const next = fs.openSync(target, "a");
      fs.closeSync(fd);
      fd = next;
    },
  };
}

/**
 * sd_notify through systemd-notify: Node has no unix datagram sockets. systemd-notify sends with its own
 * pid as the credential unless it runs as root, so units say NotifyAccess=all (docs/deploy.md).
 */
let notifications: Promise<void> = Promise.resolve();

function notify(fields: readonly string[], onError: (error: unknown) => void): void {
  if (!process.env.NOTIFY_SOCKET) return;
  const extra = fields.includes("RELOADING=1") ? [`MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`] : [];
  // One at a time, so that systemd hears the states in the order they happened.
  notifications = notifications.then(() =>
    new Promise<void>((resolve) => {
      // Not --no-block: systemd-notify then waits until systemd has read the message. A sender gone before
      // that cannot be traced to the service, and with NotifyAccess=all its READY=1 would be dropped.
      const child = spawn("systemd-notify", [...fields, ...extra], { stdio: "ignore" });
      child.on("error", (error) => (onError(error), resolve()));
      child.on("exit", () => resolve());
    })
  );
}

/** The notifications sent so far, delivered; the arbiter waits on it before it exits (STOPPING=1). */
function notifyDone(ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([notifications, late]).finally(() => clearTimeout(timer));
}

/**
 * The app's output must not take the worker down when its device fails (full disk, closed pipe):
 * - Node writes to a file through a SyncWriteStream, whose failed write becomes an 'error' event
 *   no one listens to (an uncaught exception, measured: the worker died); such a stream writes here
 *   instead, and the line is dropped. A pipe's error is listened to.
 * - Deno's console throws from the write itself (measured: every request answered 500), so the
 *   console's methods drop what they cannot write.
 * - Bun already drops them.
 */
function guardOutput(onLost: (error: unknown) => void): void {
  for (const [stream, fd] of [[process.stdout, 1], [process.stderr, 2]] as const) {
    stream.on("error", onLost);
    if (stream.constructor.name !== "SyncWriteStream") continue;
    (stream as unknown as { _write: (chunk: Uint8Array, encoding: string, done: () => void) => void })._write = (chunk, _encoding, done) => {
      try {
        fs.writeSync(fd, chunk);
      } catch (error) {
        onLost(error);
      }
      done();
    };
  }
  if (!("Deno" in globalThis)) return;
  const target = console as unknown as Record<string, unknown>;
  for (const name of Object.keys(target)) {
    const method = target[name];
    if (typeof method !== "function") continue;
    target[name] = function (this: unknown, ...args: unknown[]) {
      try {
        return (method as (...a: unknown[]) => unknown).apply(this, args);
      } catch (error) {
        onLost(error);
      }
    };
  }
}

let lastRss = 0;

/** The host, the same on every runtime. */
export const host: Host = {
  pid: process.pid,
  env: () => process.env,
  // argv is [runtime, script, ...args] on all three runtimes.
  args: () => process.argv.slice(2),
  cwd: () => process.cwd(),
  writeError(line) {
    // A pipe or file write error (EPIPE, ENOSPC) must never take the process down.
    fs.writeSync(2, `${line}\n`);
  },
  guardOutput,
  writeOut(text) {
    fs.writeSync(1, `${text}\n`);
  },
  exit: (code) => process.exit(code),
  onSignal(signal, handler) {
    process.on(signal, handler);
  },
  onUncaught(handler) {
    process.on("uncaughtException", (error) => handler(error, "exception"));
    process.on("unhandledRejection", (reason) => handler(reason, "rejection"));
  },
  kill(pid, signal) {
    try {
      process.kill(pid, signal);
      return true;
    } catch (error) {
      // Another user's process is alive all the same: kill(pid, 0) asks only that.
      return signal === 0 && (error as NodeJS.ErrnoException).code === "EPERM";
    }
  },
  pidNamespace() {
    try {
      return /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/pid"))?.[1];
    } catch {
      return undefined;
    }
  },
  monotonic: () => performance.now() / 1000,
  makeTempDir: (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix)),
  tempDirs(prefix) {
    try {
      return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(prefix)).map((name) => path.join(os.tmpdir(), name));
    } catch {
      return [];
    }
  },
  removePath: (target) => fs.rmSync(target, { recursive: true, force: true }),
  resolvePath: (base, target) => path.resolve(base, target),
  fileFromUrl: (url) => fileURLToPath(url),
  fileExists: (target) => fs.existsSync(target),
  writeTextFile: (target, text) => fs.writeFileSync(target, text),
  chown: (target, uid, gid) => fs.chownSync(target, uid, gid),
  // Deno's node:process umask() ignores its argument.
  setUmask: (mask) => void ("Deno" in globalThis ? (globalThis as unknown as { Deno: { umask(m: number): number } }).Deno.umask(mask) : process.umask(mask)),
  notify,
  notifyDone,
  openLogFile,
  memoryRss() {
    // Reads /proc: with every descriptor taken (EMFILE) it throws; the last figure stands in.
    try {
      lastRss = process.memoryUsage.rss();
    } catch {
      // keep the last one
    }
    return lastRss;
  },
  acceptQueue() {
    // The kernel's accept queue of this process's listening sockets.
    try {
      const inodes = new Set<string>();
      for (const fd of fs.readdirSync("/proc/self/fd")) {
        try {
          const link = fs.readlinkSync(`/proc/self/fd/${fd}`);
          if (link.startsWith("socket:[")) inodes.add(link.slice(8, -1));
        } catch {
          // closed meanwhile
        }
      }
      return queuedOn((fields) => inodes.has(fields[9]!));
    } catch {
      return undefined;
    }
  },
  descriptorsExhausted() {
    try {
      fs.closeSync(fs.openSync("/dev/null", "r"));
      return false;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === "EMFILE" || code === "ENFILE";
    }
  },
  openFileLimit() {
    try {
      const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
      const soft = line?.split(/\s{2,}/)[1];
      return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
    } catch {
      return undefined;
    }
  },
  parentPid: () => process.ppid,
  readTextFile(target) {
    try {
      return fs.readFileSync(target, "utf8");
    } catch {
      return undefined;
    }
  },
  listenControl,
  connectControl,
  watchSources,
  runtimeFolder() {
    const xdg = process.env.XDG_RUNTIME_DIR;
    return xdg && path.isAbsolute(xdg) ? { path: xdg, shared: false } : { path: os.tmpdir(), shared: true };
  },
  uid: () => (typeof process.getuid === "function" ? process.getuid() : undefined),
  makePrivateFolder(target) {
    // One level only: its parent ($XDG_RUNTIME_DIR, the temp folder) must exist. (A recursive mkdir under
    // /proc never returns on Node 20, measured.)
    try {
      fs.mkdirSync(target, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const stat = fs.statSync(target);
    const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
    // A folder of the same name made by another user (in a shared temp folder) is not ours to use.
    if (uid !== undefined && stat.uid !== uid) throw new Error(`"${target}" belongs to uid ${stat.uid}, not to this user (uid ${uid})`);
    if ((stat.mode & 0o077) !== 0) fs.chmodSync(target, 0o700);
  },
  chmod: (target, mode) => fs.chmodSync(target, mode),
  pathKind(target) {
    try {
      const stat = fs.lstatSync(target);
      return stat.isSocket() ? "socket" : stat.isFile() ? "file" : stat.isDirectory() ? "directory" : "other";
    } catch {
      return undefined;
    }
  },
  removeFile(target) {
    try {
      fs.unlinkSync(target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  },
  listFolder(target) {
    try {
      return fs.readdirSync(target);
    } catch {
      return [];
    }
  },
  setTitle(title) {
    // Deno's and Bun's node:process take the title and change neither /proc/PID/cmdline nor comm (measured).
    if ("Deno" in globalThis || "Bun" in globalThis) return false;
    process.title = title;
    return true;
  },
  sendUdp,
  serveHttp,
  listenQueue(ports) {
    // The kernel's accept queues of every listening socket on these ports (workers' SO_REUSEPORT ones included).
    const wanted = new Set(ports);
    try {
      return queuedOn((fields) => wanted.has(parseInt(fields[1]!.split(":")[1]!, 16)));
    } catch {
      return undefined;
    }
  },
};

/**
 * Connections waiting to be accepted on the listening sockets `pick` chooses: the rx_queue of the LISTEN
 * (0A) lines of /proc/net/tcp and tcp6, whose fields `pick` reads. Throws when /proc cannot be read.
 */
function queuedOn(pick: (fields: string[]) => boolean): number {
  let queued = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const lines = fs.readFileSync(table, "utf8").split("\n");
    for (let i = 1; i < lines.length; i++) {
      const fields = lines[i]!.trim().split(/\s+/);
      if (fields[3] === "0A" && pick(fields)) queued += parseInt(fields[4]!.split(":")[1]!, 16);
    }
  }
  return queued;
}

const udpSockets = new Map<string, dgram.Socket>();

/** One UDP socket per address family, kept for the process's life (unref'd). */
function sendUdp(host: string, port: number, data: string, onError: (error: unknown) => void): void {
  const family = net.isIPv6(host) ? "udp6" : "udp4";
  let socket = udpSockets.get(family);
  if (!socket) {
    socket = dgram.createSocket(family);
    socket.on("error", onError);
    socket.unref();
    udpSockets.set(family, socket);
  }
  try {
    socket.send(data, port, host, (error) => error && onError(error));
  } catch (error) {
    onError(error);
  }
}

/** A small HTTP server for GETs (the arbiter's metrics); not the workers' engine. */
function serveHttp(
  address: BindAddress,
  handler: (path: string) => { status: number; type: string; body: string },
): Promise<ControlServer & { port: number | undefined }> {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      const { status, type, body } = req.method === "GET" || req.method === "HEAD"
        ? handler((req.url ?? "/").split("?")[0]!)
        : { status: 405, type: "text/plain; charset=utf-8", body: "Method Not Allowed\n" };
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    });
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      server.unref();
      const bound = server.address();
      resolve({
        close: () => new Promise((closed) => server.close(() => closed())),
        port: bound !== null && typeof bound === "object" ? bound.port : undefined,
      });
    };
    if (address.kind === "unix") server.listen(address.path, done);
    else if (address.kind === "tcp") server.listen({ host: address.host, port: address.port }, done);
    else reject(new Error("cannot serve metrics on an inherited descriptor"));
  });
}
