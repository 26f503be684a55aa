/**
 * The server's metrics, kept by the arbiter: the workers' request counts (from their heartbeats), with
 * the last counts of every worker that is gone, so a scrape never goes backwards when a worker dies;
 * restarts by reason; reloads by outcome. Rendered in Prometheus' text exposition format.
 */
import { addStats, DURATION_BUCKETS, emptyStats, METHODS, STATUS_CLASSES, type WorkerStats } from "../worker/stats.ts";

/** Why a worker was replaced. */
export type RestartReason = "crash" | "timeout" | "max-requests" | "memory" | "reload" | "stuck";
export const RESTART_REASONS: readonly RestartReason[] = ["crash", "timeout", "max-requests", "memory", "reload", "stuck"];

/** One live worker, as the metrics read it. */
export interface WorkerView {
  readonly pid: number;
  readonly id: number;
  readonly state: "booting" | "serving" | "retiring";
  /** Seconds since it was spawned. */
  readonly age: number;
  /** Seconds since its last heartbeat. */
  readonly heartbeatAge: number;
  readonly rss: number;
  /** Share of the last heartbeat interval with a request in flight, 0 to 1. */
  readonly busy: number;
  readonly stats: WorkerStats | undefined;
}

/** What a scrape shows besides the counts. */
export interface ServerView {
  readonly workers: readonly WorkerView[];
  /** The connections waiting in the listeners' accept queues, when asked for (--enable-backlog-metric) and known. */
  readonly backlog?: number;
}

export class ServerMetrics {
  #gone: WorkerStats = emptyStats();
  readonly restarts: Record<RestartReason, number> = {
    crash: 0,
    timeout: 0,
    "max-requests": 0,
    memory: 0,
    reload: 0,
    stuck: 0,
  };
  readonly reloads = { complete: 0, failed: 0 };

  /** A worker is gone: its last counts are kept (nothing of them is in flight any more). */
  workerGone(last: WorkerStats | undefined, reason: RestartReason | undefined): void {
    if (last) this.#gone = addStats(this.#gone, { ...last, inFlight: 0, websockets: 0 });
    if (reason) this.restarts[reason]++;
  }

  reloaded(ok: boolean): void {
    if (ok) this.reloads.complete++;
    else this.reloads.failed++;
  }

  /** Every worker's counts, the gone ones' included. */
  total(workers: readonly WorkerView[]): WorkerStats {
    let sum = this.#gone;
    for (const worker of workers) if (worker.stats) sum = addStats(sum, worker.stats);
    return sum;
  }

  /** The Prometheus text exposition (version 0.0.4). */
  prometheus(view: ServerView): string {
    const out = new Exposition();
    const total = this.total(view.workers);

    out.family("unicorn_http_requests_total", "counter", "Requests answered, by method and status class.");
    for (let m = 0; m < METHODS.length; m++) {
      for (let c = 0; c < STATUS_CLASSES.length; c++) {
        const n = total.counts[m * STATUS_CLASSES.length + c]!;
        if (n > 0) out.sample("unicorn_http_requests_total", { method: METHODS[m]!, code: STATUS_CLASSES[c]! }, n);
      }
    }
    out.family("unicorn_http_request_duration_seconds", "histogram", "Time from a request's arrival to its response (Fetch apps: the response head; Node-style apps: the whole response).");
    let cumulative = 0;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      cumulative += total.buckets[i]!;
      out.sample("unicorn_http_request_duration_seconds_bucket", { le: String(DURATION_BUCKETS[i]) }, cumulative);
    }
    out.sample("unicorn_http_request_duration_seconds_bucket", { le: "+Inf" }, total.requests);
    out.sample("unicorn_http_request_duration_seconds_sum", {}, total.durationSum);
    out.sample("unicorn_http_request_duration_seconds_count", {}, total.requests);
    out.family("unicorn_http_requests_in_flight", "gauge", "Requests being served.");
    out.sample("unicorn_http_requests_in_flight", {}, total.inFlight);
    out.family("unicorn_websockets_open", "gauge", "WebSockets open.");
    out.sample("unicorn_websockets_open", {}, total.websockets);
    out.family("unicorn_http_refusals_total", "counter", "Requests refused before the app (limits, strict HTTP/1.1, timeouts), by status.");
    for (const [code, n] of Object.entries(total.refused)) out.sample("unicorn_http_refusals_total", { code }, n);
    out.family("unicorn_log_write_failures_total", "counter", "Access-log lines lost to failing writes.");
    out.sample("unicorn_log_write_failures_total", {}, total.logFailures);

    out.family("unicorn_workers", "gauge", "Worker processes, by state.");
    for (const state of ["booting", "serving", "retiring"] as const) {
      out.sample("unicorn_workers", { state }, view.workers.filter((w) => w.state === state).length);
    }
    out.family("unicorn_worker_restarts_total", "counter", "Workers replaced, by reason.");
    for (const reason of RESTART_REASONS) out.sample("unicorn_worker_restarts_total", { reason }, this.restarts[reason]);
    out.family("unicorn_reloads_total", "counter", "Reloads (HUP, unicorn ctl reload), by outcome.");
    out.sample("unicorn_reloads_total", { outcome: "complete" }, this.reloads.complete);
    out.sample("unicorn_reloads_total", { outcome: "failed" }, this.reloads.failed);
    out.family("unicorn_worker_busy_ratio", "gauge", "Share of the last heartbeat interval a worker had a request in flight.");
    for (const w of view.workers) out.sample("unicorn_worker_busy_ratio", { pid: String(w.pid) }, w.busy);
    out.family("unicorn_worker_resident_memory_bytes", "gauge", "A worker's resident memory.");
    for (const w of view.workers) out.sample("unicorn_worker_resident_memory_bytes", { pid: String(w.pid) }, w.rss);
    out.family("unicorn_worker_heartbeat_age_seconds", "gauge", "Seconds since a worker's last heartbeat.");
    for (const w of view.workers) out.sample("unicorn_worker_heartbeat_age_seconds", { pid: String(w.pid) }, w.heartbeatAge);
    out.family("unicorn_worker_requests_total", "counter", "Requests a live worker has answered.");
    for (const w of view.workers) out.sample("unicorn_worker_requests_total", { pid: String(w.pid) }, w.stats?.requests ?? 0);
    if (view.backlog !== undefined) {
      out.family("unicorn_listen_queue_length", "gauge", "Connections waiting in the listeners' accept queues.");
      out.sample("unicorn_listen_queue_length", {}, view.backlog);
    }
    return out.text();
  }
}

/** Label values escaped as the exposition format requires: backslash, quote, newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(Math.round(n * 1e6) / 1e6);
}

class Exposition {
  readonly #lines: string[] = [];
  family(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, labels: Record<string, string>, value: number): void {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    this.#lines.push(`${name}${pairs.length ? `{${pairs.join(",")}}` : ""} ${formatNumber(value)}`);
  }
  text(): string {
    return `${this.#lines.join("\n")}\n`;
  }
}
