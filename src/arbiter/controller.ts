/**
 * What `unicorn ctl` reads and does, in terms of the arbiter: the replies of src/ctl/protocol.ts built
 * from its workers and metrics, and its signal handlers run in its loop.
 */
import { formatAddress } from "../config/bind.ts";
import { configRows } from "../config/print.ts";
import type { Config } from "../config/settings.ts";
import type { ReloadOutcome, StatsReply, StatusReply, WorkerRow, WorkersReply } from "../ctl/protocol.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime, SignalName } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { METHODS, quantile, STATUS_CLASSES } from "../worker/stats.ts";
import type { Controllable } from "./control-socket.ts";
import type { OpenListeners } from "./listeners.ts";
import type { ServerMetrics, WorkerView } from "./metrics.ts";
import type { WorkerHandle } from "./worker-handle.ts";

/** The arbiter's state the controller reads, and what it may ask of its loop. */
export interface ControlState {
  readonly startedAt: number;
  readonly generation: number;
  readonly reloading: boolean;
  readonly stopping: boolean;
  readonly engine: string;
  readonly metrics: ServerMetrics;
  readonly sources: Record<keyof Config, string> | undefined;
  reload(): Promise<ReloadOutcome>;
  /** Runs a signal's handler in the loop, as if the signal had come. */
  enqueue(signal: SignalName): void;
  /** Runs a task in the loop. */
  run(task: () => Promise<void> | void): void;
}

/** The arbiter, as far as the controller needs it. */
export interface Controlled {
  readonly runtime: Runtime;
  readonly config: Config;
  readonly log: Logger;
  readonly workers: ReadonlyMap<number, WorkerHandle>;
  readonly numWorkers: number;
  readonly listeners: OpenListeners | undefined;
  readonly controlState: ControlState;
  setNumWorkers(value: number): Promise<void>;
  retireWorker(worker: WorkerHandle): void;
  workerViews(): WorkerView[];
  metricsText(): string;
}

function seconds(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** A quantile for the reply: null with no requests, -1 past the largest bucket (JSON has no Infinity). */
function quantileOf(stats: Parameters<typeof quantile>[0] | undefined, q: number): number | null {
  const value = stats ? quantile(stats, q) : undefined;
  return value === undefined ? null : value === Infinity ? -1 : value;
}

/** The commands of the control socket, on `arbiter`. */
export function controlOf(arbiter: Controlled): Controllable {
  return {
    status(): StatusReply {
      const { runtime, config, listeners } = arbiter;
      const state = arbiter.controlState;
      const tls = config.certfile !== undefined;
      return {
        pid: runtime.pid,
        version: VERSION,
        runtime: runtime.name,
        runtimeVersion: runtime.version,
        uptime: seconds(runtime.monotonic() - state.startedAt),
        listeners: (listeners?.serve ?? []).map((l) => formatAddress(l.address, tls ? "https" : "http")),
        strategy: listeners?.strategy ?? "",
        engine: state.engine,
        generation: state.generation,
        workers: arbiter.numWorkers,
        serving: [...arbiter.workers.values()].filter((w) => w.state === "serving").length,
        state: state.stopping ? "stopping" : state.reloading ? "reloading" : "running",
        name: config.procName ?? null,
      };
    },
    workers(): WorkersReply {
      const now = arbiter.runtime.monotonic();
      const rows = [...arbiter.workers.values()].sort((a, b) => a.id - b.id).map((w): WorkerRow => {
        const view = w.view(now);
        return {
          pid: w.pid,
          id: w.id,
          generation: w.generation,
          state: w.state,
          age: seconds(view.age),
          requests: view.stats?.requests ?? w.requests,
          inFlight: view.stats?.inFlight ?? 0,
          websockets: view.stats?.websockets ?? 0,
          heartbeat: seconds(view.heartbeatAge),
          rss: w.rss,
          busy: Math.round(view.busy * 1000) / 1000,
          p50: quantileOf(view.stats, 0.5),
          p99: quantileOf(view.stats, 0.99),
        };
      });
      return { workers: rows, restarts: { ...arbiter.controlState.metrics.restarts } };
    },
    stats(): StatsReply {
      const { metrics } = arbiter.controlState;
      const total = metrics.total(arbiter.workerViews());
      const byStatus: Record<string, number> = {};
      const byMethod: Record<string, number> = {};
      METHODS.forEach((method, m) => {
        STATUS_CLASSES.forEach((klass, c) => {
          const n = total.counts[m * STATUS_CLASSES.length + c]!;
          if (n === 0) return;
          byStatus[klass] = (byStatus[klass] ?? 0) + n;
          byMethod[method] = (byMethod[method] ?? 0) + n;
        });
      });
      return {
        requests: total.requests,
        inFlight: total.inFlight,
        websockets: total.websockets ?? 0,
        byStatus,
        byMethod,
        refused: total.refused,
        p50: quantileOf(total, 0.5),
        p99: quantileOf(total, 0.99),
        restarts: { ...metrics.restarts },
        reloads: { ...metrics.reloads },
        logFailures: total.logFailures,
      };
    },
    config() {
      const sources = arbiter.controlState.sources;
      return configRowsOf(arbiter.config, sources);
    },
    metrics: () => arbiter.metricsText(),
    scale(count) {
      if (arbiter.controlState.stopping) return Promise.reject(new Error("the server is stopping"));
      return new Promise((resolve) =>
        arbiter.controlState.run(async () => {
          if (count !== arbiter.numWorkers) {
            arbiter.log.info(`unicorn ctl: scaling from ${arbiter.numWorkers} to ${count} workers`);
            await arbiter.setNumWorkers(count);
          }
          resolve(arbiter.numWorkers);
        })
      );
    },
    kill(pid) {
      const worker = arbiter.workers.get(pid);
      if (!worker) throw new Error(`no worker has pid ${pid} (see "unicorn ctl workers")`);
      if (worker.state === "retiring") throw new Error(`worker ${pid} is already stopping`);
      arbiter.controlState.run(() => {
        arbiter.log.info(`unicorn ctl: stopping worker (pid:${pid}); a new one takes its place`);
        arbiter.retireWorker(worker);
      });
    },
    reload: () => arbiter.controlState.reload(),
    reopen: () => arbiter.controlState.enqueue("SIGUSR1"),
    stop: (quick) => arbiter.controlState.enqueue(quick ? "SIGQUIT" : "SIGTERM"),
  };
}

/** The resolved settings, their sources, environment values masked (they often carry secrets). */
function configRowsOf(config: Config, sources: Record<keyof Config, string> | undefined) {
  return configRows({ action: "serve", config, sources: sources ?? ({} as Record<keyof Config, string>), warnings: [] }, true)
    .map((row) => ({ ...row, source: row.source ?? "default" }));
}
