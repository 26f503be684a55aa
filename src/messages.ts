/**
 * The one worker-to-arbiter protocol, the same on every runtime: JSON messages,
 * one per line, over the control socket; and the spec a worker is started with.
 */
import type { BindAddress } from "./config/bind.ts";
import type { Engine, HttpSettings } from "./http/types.ts";
import type { WorkerStats } from "./worker/stats.ts";
import type { Config } from "./config/settings.ts";

/** A listener as a worker receives it. */
export type ServeListener =
  | { kind: "fd"; fd: number; address: BindAddress }
  | { kind: "reuse-port"; host: string; port: number; address: BindAddress };

export type Message =
  /** First message of a worker: which spawn it is. */
  | { type: "hello"; id: number; pid: number }
  /**
   * The app is loaded and the worker is serving; `loader` says what compiled a TypeScript app, where there
   * was a choice; `app`, what the app was taken for and the engine serving it.
   */
  | { type: "booted"; loader?: { name: string; reason?: string }; app?: { what: string; engine: Engine } }
  /** The worker cannot boot: why, said once by the arbiter rather than by every worker. Sent before exiting 3 or 4. */
  | { type: "failed"; message: string }
  /** Sent from a timer on the worker's event loop: a blocked loop misses it. */
  | { type: "heartbeat"; requests: number; rss: number; stats?: WorkerStats }
  /** The worker reached its --max-requests and asks to be replaced. */
  | { type: "recycle"; requests: number }
  /** The worker's server stopped accepting (descriptors ran out, on an engine that does not recover). */
  | { type: "stuck"; reason: string }
  /** The worker has stopped accepting and is finishing its requests. */
  | { type: "draining" }
  /**
   * From the arbiter: the whole server stops gracefully, so the health path answers 503; first, for
   * `delay` seconds (--shutdown-delay), serve on. A worker that leaves alone (a reload, a recycle, a
   * scale down) gets only SIGTERM, and its health path keeps answering 200: a balancer's check that
   * lands on it must not take the whole instance out.
   */
  | { type: "stop"; delay?: number }
  /** From the arbiter: reopen the log file (USR1). */
  | { type: "reopen-logs" };

/** The settings a worker reads as the table gives them (the rest it gets resolved). */
type WorkerSettings = Readonly<
  Pick<Config, "backlog" | "timeout" | "requestTimeout" | "errorLog" | "accessLogFormat" | "gracefulTimeout" | "logLevel" | "healthPath" | "procName">
>;

/** What the arbiter passes to a worker, as JSON in `UNICORN_WORKER`. */
export interface WorkerSpec extends WorkerSettings {
  readonly id: number;
  /** The arbiter's pid: a worker whose parent is no longer this process exits, whatever state it is in. */
  readonly arbiterPid: number;
  readonly control: string;
  /** The APP spec, or null when the config file holds the app itself. */
  readonly app: string | null;
  /** The config file, imported by the worker for its hooks (and the app). */
  readonly configFile: string | null;
  readonly cwd: string;
  readonly listeners: readonly ServeListener[];
  /** Requests after which the worker asks to be replaced (jitter applied); 0 for never. */
  readonly maxRequests: number;
  /** The access log file, "-" for standard output, or null for none. */
  readonly accessLog: string | null;
  readonly http: HttpSettings;
  /** The loader an earlier worker needed for this app (Node: "tsx"), so this one does not try another first. */
  readonly loader?: string;
}

/** The environment variable that carries the {@linkcode WorkerSpec}. */
export const WORKER_SPEC_ENV = "UNICORN_WORKER";
