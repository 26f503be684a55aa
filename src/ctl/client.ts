/**
 * `unicorn ctl`: talks to a running server's control socket (src/ctl/protocol.ts) and prints what it
 * says, as tables for people or as JSON (`--json`) for scripts.
 */
import { parseBind } from "../config/bind.ts";
import type { Runtime } from "../runtime.ts";
import {
  controlFolder,
  controlName,
  type CtlReply,
  type CtlRequest,
  PROTOCOL_VERSION,
  type ReloadOutcome,
  type StatsReply,
  type StatusReply,
  type WorkerRow,
  type WorkersReply,
} from "./protocol.ts";

/** `unicorn ctl`'s exit codes. */
export const CtlExit = {
  OK: 0,
  /** The server refused or could not do it (a reload rolled back, no such worker). */
  FAILED: 1,
  USAGE: 2,
  /** No server answers at the socket. */
  NO_SERVER: 3,
} as const;

export const CTL_USAGE = `usage: unicorn ctl [--socket PATH | --name NAME | -b ADDRESS] [--json] COMMAND

Talks to a running unicorn through its control socket (by default the only one in
$XDG_RUNTIME_DIR/unicorn/, or the one of --name NAME or -b ADDRESS).

commands:
  status                 arbiter pid, version, runtime, uptime, listeners, engine, generation
  workers                each worker: pid, age, state, requests, in flight, busy, latency, RSS, heartbeat
  stats                  requests by status and method, latency, refusals, restarts, reloads
  config                 the resolved settings and where each came from (environment values masked)
  metrics                the Prometheus exposition
  top [--interval S]     a live view of the workers, refreshed every S seconds (1); Ctrl-C to leave
  scale N                keep N workers
  worker add [N]         N more workers (1)
  worker remove [N]      N fewer workers (1); the oldest retire gracefully
  worker kill PID        stop one worker gracefully; a new one takes its place
  reload                 reload (as HUP) and wait: the new generation serving, or rolled back and why
  reopen                 reopen the log files (as USR1)
  stop [--quick]         stop gracefully (as TERM), or at once (as QUIT)

exit codes: 0 done, 1 the server could not do it, 2 usage, 3 no server at the socket`;

class CtlError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

interface Options {
  socket?: string;
  name?: string;
  bind?: string;
  json: boolean;
  interval: number;
  /** top: frames to draw before leaving (tests); 0 for until interrupted. */
  frames: number;
  quick: boolean;
  words: string[];
}

function parse(args: readonly string[]): Options {
  const options: Options = { json: false, interval: 1, frames: 0, quick: false, words: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new CtlError(`${arg} needs a value`, CtlExit.USAGE);
      return next;
    };
    if (arg === "--socket") options.socket = value();
    else if (arg === "--name" || arg === "-n") options.name = value();
    else if (arg === "-b" || arg === "--bind") options.bind = value();
    else if (arg === "--json") options.json = true;
    else if (arg === "--quick") options.quick = true;
    else if (arg === "--interval") options.interval = Number(value());
    else if (arg === "--frames") options.frames = Number(value());
    else if (arg === "-h" || arg === "--help") options.words = ["help"];
    else if (arg.startsWith("-")) throw new CtlError(`unknown option "${arg}"`, CtlExit.USAGE);
    else options.words.push(arg);
  }
  if (!(options.interval > 0)) throw new CtlError("--interval must be a number of seconds above 0", CtlExit.USAGE);
  return options;
}

/** The socket to talk to: --socket, the one of --name or -b, or the only one in the control folder. */
function findSocket(runtime: Runtime, options: Options): string {
  if (options.socket) return runtime.resolvePath(runtime.cwd(), options.socket);
  const folder = controlFolder(runtime);
  if (options.name !== undefined || options.bind !== undefined) {
    const bind = options.bind === undefined ? [] : [parseBind(options.bind)];
    return runtime.resolvePath(folder, `${controlName(options.name, bind)}.ctl`);
  }
  const sockets = runtime.listFolder(folder).filter((name) => name.endsWith(".ctl"));
  if (sockets.length === 1) return runtime.resolvePath(folder, sockets[0]!);
  if (sockets.length === 0) {
    throw new CtlError(`no unicorn control socket in "${folder}": is a server running as this user? (or pass --socket PATH)`, CtlExit.NO_SERVER);
  }
  throw new CtlError(`several servers in "${folder}" (${sockets.map((s) => s.slice(0, -4)).join(", ")}): pass --name NAME or --socket PATH`, CtlExit.USAGE);
}

async function ask(runtime: Runtime, path: string, request: CtlRequest, timeoutMs: number): Promise<unknown> {
  let channel;
  try {
    channel = await runtime.connectControl<CtlRequest | CtlReply>(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "ENOENT"
      ? "there is no such socket: is the server running?"
      : code === "ECONNREFUSED"
      ? "nothing answers there (a server that died left it)"
      : code === "EACCES" || code === "EPERM"
      ? "permission denied: it belongs to another user; run unicorn ctl as that user"
      : (error as Error).message;
    throw new CtlError(`cannot reach a unicorn at "${path}": ${why}`, CtlExit.NO_SERVER);
  }
  const open = channel;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      open.close();
      reject(new CtlError(`no answer from "${path}" within ${timeoutMs / 1000} s`, CtlExit.FAILED));
    }, timeoutMs);
    open.onMessage((message) => {
      clearTimeout(timer);
      open.close();
      const reply = message as CtlReply;
      if (reply.ok) resolve(reply.data);
      else reject(new CtlError(reply.error, CtlExit.FAILED));
    });
    open.onClose(() => {
      clearTimeout(timer);
      reject(new CtlError(`"${path}" closed the connection without an answer`, CtlExit.FAILED));
    });
    open.send(request);
  });
}

function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(seconds / 86400)}d${String(Math.floor((seconds % 86400) / 3600)).padStart(2, "0")}h`;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)}M`;
}

function latency(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 0 || seconds === Infinity) return ">10s";
  return seconds < 1 ? `≤${Math.round(seconds * 1000 * 10) / 10}ms` : `≤${seconds}s`;
}

function showStatus(s: StatusReply): string {
  return [
    `unicorn ${s.version} on ${s.runtime} ${s.runtimeVersion}${s.name ? ` [${s.name}]` : ""}`,
    `arbiter pid:   ${s.pid}`,
    `state:         ${s.state}`,
    `uptime:        ${duration(s.uptime)}`,
    `listening at:  ${s.listeners.join(", ")}`,
    `strategy:      ${s.strategy}; engine: ${s.engine}`,
    `workers:       ${s.serving} serving of ${s.workers}; generation ${s.generation}`,
  ].join("\n");
}

function workerRows(rows: readonly WorkerRow[], rates?: ReadonlyMap<number, number>): string {
  const headers = ["PID", "ID", "GEN", "STATE", "AGE", ...(rates ? ["REQ/S"] : []), "REQUESTS", "IN FLIGHT", "WEBSOCKETS", "BUSY", "P50", "P99", "RSS", "HEARTBEAT"];
  return table(headers, rows.map((w) => [
    String(w.pid),
    String(w.id),
    String(w.generation),
    w.state,
    duration(w.age),
    ...(rates ? [rates.has(w.pid) ? String(Math.round(rates.get(w.pid)!)) : "-"] : []),
    String(w.requests),
    String(w.inFlight),
    String(w.websockets ?? 0),
    `${Math.round(w.busy * 100)}%`,
    latency(w.p50),
    latency(w.p99),
    mib(w.rss),
    `${w.heartbeat.toFixed(1)}s ago`,
  ]));
}

function showWorkers(reply: WorkersReply): string {
  const restarts = Object.entries(reply.restarts).filter(([, n]) => n > 0).map(([why, n]) => `${why} ${n}`);
  return `${workerRows(reply.workers)}\nrestarts: ${restarts.length ? restarts.join(", ") : "none"}`;
}

function counts(record: Readonly<Record<string, number>>): string {
  const entries = Object.entries(record).filter(([, n]) => n > 0);
  return entries.length ? entries.map(([k, n]) => `${k} ${n}`).join(", ") : "none";
}

function showStats(s: StatsReply): string {
  return [
    `requests:      ${s.requests} (in flight: ${s.inFlight})`,
    `websockets:    ${s.websockets ?? 0} open`,
    `by status:     ${counts(s.byStatus)}`,
    `by method:     ${counts(s.byMethod)}`,
    `latency:       p50 ${latency(s.p50)}, p99 ${latency(s.p99)}`,
    `refused:       ${counts(s.refused)}`,
    `restarts:      ${counts(s.restarts)}`,
    `reloads:       ${s.reloads.complete} complete, ${s.reloads.failed} failed`,
    `log failures:  ${s.logFailures}`,
  ].join("\n");
}

/** `top`: the workers table, redrawn every interval, with each worker's requests per second. */
async function top(runtime: Runtime, path: string, options: Options): Promise<void> {
  let previous = new Map<number, { requests: number; at: number }>();
  for (let frame = 1; ; frame++) {
    const [status, workers] = await Promise.all([
      ask(runtime, path, { v: PROTOCOL_VERSION, command: "status" }, 5000) as Promise<StatusReply>,
      ask(runtime, path, { v: PROTOCOL_VERSION, command: "workers" }, 5000) as Promise<WorkersReply>,
    ]);
    const now = runtime.monotonic();
    const rates = new Map<number, number>();
    for (const w of workers.workers) {
      const before = previous.get(w.pid);
      if (before && now > before.at) rates.set(w.pid, (w.requests - before.requests) / (now - before.at));
    }
    previous = new Map(workers.workers.map((w) => [w.pid, { requests: w.requests, at: now }]));
    const total = [...rates.values()].reduce((sum, r) => sum + r, 0);
    const screen = [
      `unicorn ${status.version} on ${status.runtime} ${status.runtimeVersion} | pid ${status.pid} | ${status.state} | up ${duration(status.uptime)} | ` +
      `${status.serving}/${status.workers} serving | ${Math.round(total)} req/s | ${status.listeners.join(", ")}`,
      "",
      workerRows(workers.workers, rates),
    ].join("\n");
    runtime.writeOut(options.json ? JSON.stringify({ status, workers: workers.workers, rates: Object.fromEntries(rates) }) : `\x1b[H\x1b[2J${screen}`);
    if (options.frames > 0 && frame >= options.frames) return;
    await new Promise((resolve) => setTimeout(resolve, options.interval * 1000));
  }
}

/** Runs `unicorn ctl ARGS` and returns its exit code. */
export async function runCtl(runtime: Runtime, args: readonly string[]): Promise<number> {
  try {
    const options = parse(args);
    const [command, ...rest] = options.words;
    if (command === undefined || command === "help") {
      runtime.writeOut(CTL_USAGE);
      return command === undefined ? CtlExit.USAGE : CtlExit.OK;
    }
    const count = (text: string | undefined, what: string, fallback?: number): number => {
      if (text === undefined && fallback !== undefined) return fallback;
      const n = Number(text);
      if (text === undefined || !Number.isInteger(n) || n < 1) throw new CtlError(`${what} must be a whole number of at least 1`, CtlExit.USAGE);
      return n;
    };
    let request: CtlRequest;
    switch (command) {
      case "status":
      case "workers":
      case "stats":
      case "config":
      case "metrics":
      case "reload":
      case "reopen":
        request = { v: PROTOCOL_VERSION, command };
        break;
      case "top":
        await top(runtime, findSocket(runtime, options), options);
        return CtlExit.OK;
      case "scale":
        request = { v: PROTOCOL_VERSION, command: "scale", args: { workers: count(rest[0], "scale N") } };
        break;
      case "worker": {
        const [action, value] = rest;
        if (action === "add" || action === "remove") {
          request = { v: PROTOCOL_VERSION, command: action, args: { count: count(value, `worker ${action} N`, 1) } };
        } else if (action === "kill") {
          request = { v: PROTOCOL_VERSION, command: "kill", args: { pid: count(value, "worker kill PID") } };
        } else throw new CtlError(`"worker" takes add, remove or kill, not "${action ?? ""}"`, CtlExit.USAGE);
        break;
      }
      case "stop":
        request = { v: PROTOCOL_VERSION, command: "stop", args: { quick: options.quick } };
        break;
      default:
        throw new CtlError(`unknown command "${command}"; run "unicorn ctl --help"`, CtlExit.USAGE);
    }
    const path = findSocket(runtime, options);
    // A reload waits for the new generation to serve: as long as workers may take to boot.
    const data = await ask(runtime, path, request, request.command === "reload" ? 300_000 : 10_000);
    if (options.json) {
      runtime.writeOut(JSON.stringify(data, null, 2));
      if (request.command === "reload" && (data as ReloadOutcome).outcome === "failed") return CtlExit.FAILED;
      return CtlExit.OK;
    }
    switch (request.command) {
      case "status":
        runtime.writeOut(showStatus(data as StatusReply));
        break;
      case "workers":
        runtime.writeOut(showWorkers(data as WorkersReply));
        break;
      case "stats":
        runtime.writeOut(showStats(data as StatsReply));
        break;
      case "config": {
        const rows = data as Array<{ name: string; value: string; source: string }>;
        const width = Math.max(...rows.map((r) => r.name.length));
        runtime.writeOut(rows.map((r) => `${r.name.padEnd(width)} = ${r.value}  # ${r.source}`).join("\n"));
        break;
      }
      case "metrics":
        runtime.writeOut((data as string).trimEnd());
        break;
      case "reload": {
        const outcome = data as ReloadOutcome;
        if (outcome.outcome === "failed") {
          runtime.writeError(`unicorn ctl: reload failed: ${outcome.reason}`);
          return CtlExit.FAILED;
        }
        runtime.writeOut(`reloaded: generation ${outcome.generation} serving (${outcome.serving} workers), ${outcome.ms} ms`);
        break;
      }
      case "scale":
      case "add":
      case "remove":
        runtime.writeOut(`workers: ${(data as { workers: number }).workers}`);
        break;
      case "kill":
        runtime.writeOut(`stopping worker ${(data as { pid: number }).pid}; a new one takes its place`);
        break;
      case "reopen":
        runtime.writeOut("reopening the log files");
        break;
      case "stop":
        runtime.writeOut(options.quick ? "stopping at once" : "stopping gracefully");
        break;
    }
    return CtlExit.OK;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    runtime.writeError(`unicorn ctl: ${message}`);
    return error instanceof CtlError ? error.code : CtlExit.USAGE;
  }
}
