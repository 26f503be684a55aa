/**
 * The control socket's protocol, version 1: `unicorn ctl` connects to the arbiter's unix socket, sends
 * one request as a line of JSON, reads one reply as a line of JSON, and the arbiter closes the
 * connection.
 *
 * ```
 * > {"v":1,"command":"workers"}
 * < {"v":1,"ok":true,"data":[{"pid":4250,"id":1,"state":"serving",...}]}
 * > {"v":1,"command":"scale","args":{"workers":4}}
 * < {"v":1,"ok":true,"data":{"workers":4}}
 * > {"v":1,"command":"nope"}
 * < {"v":1,"ok":false,"error":"unknown command \"nope\""}
 * ```
 *
 * Commands: status, workers, stats, config, metrics, scale {workers}, add {count}, remove {count},
 * kill {pid}, reload, reopen, stop {quick}. docs/observability.md describes each reply.
 */
import type { BindAddress } from "../config/bind.ts";
import type { Host } from "../runtime.ts";

export const PROTOCOL_VERSION = 1;

export const COMMANDS = ["status", "workers", "stats", "config", "metrics", "scale", "add", "remove", "kill", "reload", "reopen", "stop"] as const;
export type Command = (typeof COMMANDS)[number];

export interface CtlRequest {
  readonly v: number;
  readonly command: string;
  readonly args?: Readonly<Record<string, unknown>>;
}

export type CtlReply =
  | { readonly v: number; readonly ok: true; readonly data: unknown }
  | { readonly v: number; readonly ok: false; readonly error: string };

/** `status`. */
export interface StatusReply {
  readonly pid: number;
  readonly version: string;
  readonly runtime: string;
  readonly runtimeVersion: string;
  readonly uptime: number;
  readonly listeners: readonly string[];
  readonly strategy: string;
  readonly engine: string;
  readonly generation: number;
  readonly workers: number;
  readonly serving: number;
  readonly state: "running" | "reloading" | "stopping";
  readonly name: string | null;
}

/** One row of `workers`. */
export interface WorkerRow {
  readonly pid: number;
  readonly id: number;
  readonly generation: number;
  readonly state: string;
  /** Seconds since spawned. */
  readonly age: number;
  readonly requests: number;
  readonly inFlight: number;
  /** WebSockets open on it. */
  readonly websockets: number;
  /** Seconds since the last heartbeat. */
  readonly heartbeat: number;
  readonly rss: number;
  /** 0 to 1 over the last heartbeat interval. */
  readonly busy: number;
  /** Median and 99th percentile response time, from its histogram (upper bounds), in seconds; -1 past 10 s. */
  readonly p50: number | null;
  readonly p99: number | null;
}

/** `workers`: the live workers, and how many were replaced so far, by reason. */
export interface WorkersReply {
  readonly workers: readonly WorkerRow[];
  readonly restarts: Readonly<Record<string, number>>;
}

/** `stats`. */
export interface StatsReply {
  readonly requests: number;
  readonly inFlight: number;
  readonly websockets: number;
  readonly byStatus: Readonly<Record<string, number>>;
  readonly byMethod: Readonly<Record<string, number>>;
  readonly refused: Readonly<Record<string, number>>;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly restarts: Readonly<Record<string, number>>;
  readonly reloads: { readonly complete: number; readonly failed: number };
  readonly logFailures: number;
}

/** `reload`: what became of it. */
export type ReloadOutcome =
  | { readonly outcome: "complete"; readonly generation: number; readonly serving: number; readonly ms: number }
  | { readonly outcome: "failed"; readonly reason: string };

/** The name a server's control socket is known by: --name, or its first address made file-safe. */
export function controlName(procName: string | undefined, bind: readonly BindAddress[]): string {
  const first = bind[0];
  const raw = procName ??
    (first === undefined
      ? "unicorn"
      : first.kind === "tcp"
      ? `${first.host}:${first.port}`
      : first.kind === "unix"
      ? first.path
      : `fd-${first.fd}`);
  return raw.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "unicorn";
}

/** The folder default control sockets live in: `$XDG_RUNTIME_DIR/unicorn`, or `unicorn-UID` in the temp folder. */
export function controlFolder(host: Pick<Host, "runtimeFolder" | "uid" | "resolvePath">): string {
  const base = host.runtimeFolder();
  return host.resolvePath(base.path, base.shared ? `unicorn-${host.uid() ?? "user"}` : "unicorn");
}

/** A control socket's path: `--control-socket`, or NAME.ctl in the control folder. */
export function controlSocketPath(
  host: Pick<Host, "runtimeFolder" | "uid" | "resolvePath" | "cwd">,
  config: { readonly controlSocket: string | undefined; readonly procName: string | undefined; readonly bind: readonly BindAddress[] },
): string {
  if (config.controlSocket) return host.resolvePath(host.cwd(), config.controlSocket);
  return host.resolvePath(controlFolder(host), `${controlName(config.procName, config.bind)}.ctl`);
}
