/**
 * What the arbiter tells the outside about the server, besides `unicorn ctl`: a Prometheus endpoint
 * (`--metrics-bind`) and StatsD packets (`--statsd-host`), both from the counts the workers send with
 * their heartbeats, so nothing is added to a request's path.
 */
import { formatAddress } from "../config/bind.ts";
import type { Config } from "../config/settings.ts";
import { ExitCode, messageOf, UnicornError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { ControlServer, Runtime } from "../runtime.ts";
import { STATUS_CLASSES, type WorkerStats } from "../worker/stats.ts";

/** How often StatsD packets go out, in ms. */
const STATSD_INTERVAL_MS = 1000;

export interface Observers {
  close(): Promise<void>;
}

/** Where the observers read the server's figures. */
export interface ObservedServer {
  /** The Prometheus exposition. */
  metrics(): string;
  /** Every worker's counts (the gone ones' included), and the workers running. */
  statsd(): { total: WorkerStats; workers: number };
}

/** `host:port` of `--statsd-host` (port 8125 when left out); IPv6 as `[::1]:8125`. */
export function parseStatsdHost(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(text.trim());
  const port = match?.[3] === undefined ? 8125 : Number(match[3]);
  if (!match || port < 1 || port > 65535) {
    throw new UnicornError(`Invalid --statsd-host "${text}": expected HOST:PORT, such as 127.0.0.1:8125`, ExitCode.USAGE);
  }
  return { host: match[1] ?? match[2]!, port };
}

/**
 * The StatsD lines for what changed between two totals: Gunicorn's names under `PREFIXunicorn.`
 * (`requests`, `request.status.2xx`, `request.duration`, `workers`), DogStatsD tags appended.
 * `request.duration` is the interval's mean, sent with sample rate 1/N so that StatsD counts N requests.
 */
export function statsdLines(
  previous: WorkerStats,
  current: WorkerStats,
  workers: number,
  prefix: string,
  tags: string,
): string[] {
  const base = `${prefix ? `${prefix.replace(/\.$/, "")}.` : ""}unicorn.`;
  const tag = tags.trim() ? `|#${tags.trim()}` : "";
  const lines = [`${base}workers:${workers}|g${tag}`, `${base}websockets:${current.websockets ?? 0}|g${tag}`];
  const requests = current.requests - previous.requests;
  if (requests > 0) {
    lines.push(`${base}requests:${requests}|c${tag}`);
    for (let c = 0; c < STATUS_CLASSES.length; c++) {
      let n = 0;
      for (let i = c; i < current.counts.length; i += STATUS_CLASSES.length) n += current.counts[i]! - (previous.counts[i] ?? 0);
      if (n > 0) lines.push(`${base}request.status.${STATUS_CLASSES[c]}:${n}|c${tag}`);
    }
    const meanMs = ((current.durationSum - previous.durationSum) * 1000) / requests;
    lines.push(`${base}request.duration:${Math.round(meanMs * 1000) / 1000}|ms${requests > 1 ? `|@${1 / requests}` : ""}${tag}`);
  }
  for (const [status, n] of Object.entries(current.refused)) {
    const delta = n - (previous.refused[status] ?? 0);
    if (delta > 0) lines.push(`${base}request.refused.${status}:${delta}|c${tag}`);
  }
  return lines;
}

export async function startObservers(runtime: Runtime, config: Config, log: Logger, server: ObservedServer): Promise<Observers> {
  const closers: Array<() => Promise<void> | void> = [];
  if (config.metricsBind) {
    const address = config.metricsBind;
    let http: ControlServer & { port: number | undefined };
    try {
      http = await runtime.serveHttp(address, (path) =>
        path === "/metrics"
          ? { status: 200, type: "text/plain; version=0.0.4; charset=utf-8", body: server.metrics() }
          : { status: 404, type: "text/plain; charset=utf-8", body: "Not Found: the metrics are at /metrics\n" }
      );
    } catch (error) {
      throw new UnicornError(`Cannot bind "${address.text}" for --metrics-bind: ${messageOf(error)}`, ExitCode.CANNOT_LISTEN);
    }
    closers.push(() => http.close());
    // Tests read the address from this line.
    const shown = address.kind === "tcp" && http.port !== undefined ? { ...address, port: http.port } : address;
    log.info(`Metrics at: ${formatAddress(shown)}/metrics`);
  }
  if (config.statsdHost) {
    const { host, port } = parseStatsdHost(config.statsdHost);
    let previous: WorkerStats | undefined;
    let failures = 0;
    const onError = (error: unknown) => {
      // Said on the 1st, 10th, 100th... failure: an unreachable StatsD must not flood the log.
      if (Number.isInteger(Math.log10(++failures))) log.warning(`Cannot send StatsD metrics to ${host}:${port} (${failures} so far): ${messageOf(error)}`);
    };
    const timer = setInterval(() => {
      const { total, workers } = server.statsd();
      const lines = statsdLines(previous ?? { ...total, requests: 0, counts: total.counts.map(() => 0), durationSum: 0, refused: {} }, total, workers, config.statsdPrefix, config.dogstatsdTags);
      previous = total;
      runtime.sendUdp(host, port, lines.join("\n"), onError);
    }, STATSD_INTERVAL_MS);
    (timer as { unref?: () => void }).unref?.();
    closers.push(() => clearInterval(timer));
    log.info(`StatsD metrics to ${host}:${port}, every ${STATSD_INTERVAL_MS / 1000} s`);
  }
  return {
    async close() {
      for (const close of closers) await close();
    },
  };
}
