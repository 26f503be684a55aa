/**
 * A worker's request statistics: counted in the request path at the cost of two clock reads and a few
 * array increments, sent to the arbiter with each heartbeat (cumulative since the worker started), and
 * aggregated there for `unicorn ctl`, Prometheus and StatsD (src/arbiter/metrics.ts).
 */

/** Upper bounds of the request-duration histogram, in seconds (Prometheus' defaults, and 1 and 2.5 ms below them). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Methods counted by name; any other is counted as "other". */
export const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"] as const;

/** Status classes counted: 1xx to 5xx. */
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

/** What a heartbeat carries: counts since the worker started. */
export interface WorkerStats {
  /** Requests answered. */
  readonly requests: number;
  readonly inFlight: number;
  /** WebSockets open now. */
  readonly websockets: number;
  /** Seconds with at least one request in flight. */
  readonly busySeconds: number;
  /** Answered requests by method (METHODS order) and status class (STATUS_CLASSES order): `method * 5 + class`. */
  readonly counts: readonly number[];
  /** Requests per duration bucket (not cumulative); the last is over the largest bound. */
  readonly buckets: readonly number[];
  /** The sum of the durations, in seconds. */
  readonly durationSum: number;
  /** Requests refused by the HTTP policy or the engine, by status. */
  readonly refused: Readonly<Record<string, number>>;
  /** Access-log and error-log lines lost to failing writes. */
  readonly logFailures: number;
}

/** The index of a method in METHODS. */
function methodIndex(method: string): number {
  switch (method) {
    case "GET":
      return 0;
    case "HEAD":
      return 1;
    case "POST":
      return 2;
    case "PUT":
      return 3;
    case "DELETE":
      return 4;
    case "PATCH":
      return 5;
    case "OPTIONS":
      return 6;
    default:
      return 7;
  }
}

/** Counts one worker's requests. `now` is a clock in ms (performance.now). */
export class RequestStats {
  #requests = 0;
  #inFlight = 0;
  #websockets = 0;
  #busyMs = 0;
  #busySince = 0;
  readonly #counts = new Array<number>(METHODS.length * STATUS_CLASSES.length).fill(0);
  readonly #buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  #durationMs = 0;
  readonly #refused: Record<string, number> = {};
  logFailures = 0;
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A request starts; returns its start time, for {@linkcode end}. */
  start(): number {
    const t0 = this.#now();
    if (this.#inFlight++ === 0) this.#busySince = t0;
    return t0;
  }

  /** A request started at `t0` is answered with `status`. */
  end(t0: number, method: string, status: number): void {
    const t1 = this.#now();
    if (--this.#inFlight === 0) this.#busyMs += t1 - this.#busySince;
    this.#requests++;
    const klass = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 4;
    this.#counts[methodIndex(method) * STATUS_CLASSES.length + klass]!++;
    const ms = t1 - t0;
    this.#durationMs += ms;
    const seconds = ms / 1000;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.#buckets[i]!++;
  }

  /** A WebSocket opened (+1) or closed (-1). */
  webSocket(delta: number): void {
    this.#websockets += delta;
  }

  /** A request refused before the app, with `status`. */
  refused(status: number): void {
    this.#refused[status] = (this.#refused[status] ?? 0) + 1;
  }

  /** The counts so far. */
  snapshot(): WorkerStats {
    const now = this.#now();
    return {
      requests: this.#requests,
      inFlight: this.#inFlight,
      websockets: this.#websockets,
      busySeconds: (this.#busyMs + (this.#inFlight > 0 ? now - this.#busySince : 0)) / 1000,
      counts: [...this.#counts],
      buckets: [...this.#buckets],
      durationSum: this.#durationMs / 1000,
      refused: { ...this.#refused },
      logFailures: this.logFailures,
    };
  }
}

/** Empty statistics, to add others to. */
export function emptyStats(): WorkerStats {
  return {
    requests: 0,
    inFlight: 0,
    websockets: 0,
    busySeconds: 0,
    counts: new Array<number>(METHODS.length * STATUS_CLASSES.length).fill(0),
    buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0),
    durationSum: 0,
    refused: {},
    logFailures: 0,
  };
}

/** `a` plus `b` (in flight included). */
export function addStats(a: WorkerStats, b: WorkerStats): WorkerStats {
  const refused: Record<string, number> = { ...a.refused };
  for (const [status, n] of Object.entries(b.refused)) refused[status] = (refused[status] ?? 0) + n;
  return {
    requests: a.requests + b.requests,
    inFlight: a.inFlight + b.inFlight,
    websockets: a.websockets + (b.websockets ?? 0),
    busySeconds: a.busySeconds + b.busySeconds,
    counts: a.counts.map((n, i) => n + (b.counts[i] ?? 0)),
    buckets: a.buckets.map((n, i) => n + (b.buckets[i] ?? 0)),
    durationSum: a.durationSum + b.durationSum,
    refused,
    logFailures: a.logFailures + b.logFailures,
  };
}

/** The duration below which `q` (0..1) of the requests fall, from the histogram (upper bound of its bucket); undefined with none. */
export function quantile(stats: Pick<WorkerStats, "buckets">, q: number): number | undefined {
  const total = stats.buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (let i = 0; i < stats.buckets.length; i++) {
    seen += stats.buckets[i]!;
    if (seen >= q * total) return DURATION_BUCKETS[i] ?? Infinity;
  }
  return Infinity;
}
