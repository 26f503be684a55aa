/**
 * The arbiter's view of one worker, and the transitions of its life; the worker's own code is in
 * `src/worker/`. The arbiter decides when; the handle records what happened and sends the signal.
 *
 *   booting ──booted──> serving ──retire──> retiring ──exit──> (reaped)
 *      └──────────────retire / stop──────────┘
 *   any state: abort (SIGABRT, a missed heartbeat or a slow boot), kill (SIGKILL)
 */
import type { Channel, SignalName, WorkerProcess } from "../runtime.ts";
import type { WorkerStats } from "../worker/stats.ts";
import type { WorkerView } from "./metrics.ts";

/** A worker's life as the arbiter tracks it. */
export type WorkerState = "booting" | "serving" | "retiring";

/** Why a worker is to be replaced once a younger one serves. */
export type ReplaceReason = "reload" | "max-requests" | "memory" | "stuck";

/** What the clock says must happen to a worker now (`WorkerHandle.overdue`). */
export type Overdue =
  | { readonly action: "kill"; readonly why: "retired" | "aborted" }
  | { readonly action: "abort"; readonly why: "boot" | "heartbeat"; readonly limit: number };

/** The deadlines `overdue` judges by, in seconds (0: none). */
export interface Deadlines {
  readonly timeout: number;
  readonly bootTimeout: number;
  /** How long a retiring worker may take before SIGKILL. */
  readonly retire: number;
  /** How long an aborted worker has before SIGKILL. */
  readonly abortGrace: number;
}

export class WorkerHandle {
  /** Spawn number, increasing: a larger id is a younger worker. */
  readonly id: number;
  /** The reload generation it was started in. */
  readonly generation: number;
  readonly child: WorkerProcess;
  readonly spawnedAt: number;
  state: WorkerState = "booting";
  bootedAt: number | undefined;
  lastHeartbeat: number;
  requests = 0;
  /** Resident memory in bytes, from the last heartbeat. */
  rss = 0;
  /** The request counts of its last heartbeat. */
  stats: WorkerStats | undefined;
  /** The share of the last heartbeat interval it had a request in flight. */
  busy = 0;
  channel: Channel | undefined;
  /** Set when a younger worker should take its place; it keeps serving until one does. */
  replace: ReplaceReason | undefined;
  /** When the arbiter asked it to finish and exit. */
  retiredAt: number | undefined;
  /** When it missed its heartbeat and was sent SIGABRT. */
  abortedAt: number | undefined;
  /** When the arbiter gave up on it and sent SIGKILL. */
  killedAt: number | undefined;
  /** Why it could not boot, as it said before exiting 3 or 4. */
  failure: string | undefined;
  /** Settles once it said why it failed, or its control channel closed: nothing more will come. */
  readonly lastWords: Promise<void>;
  #heard: () => void = () => {};

  constructor(id: number, generation: number, child: WorkerProcess, now: number) {
    this.id = id;
    this.generation = generation;
    this.child = child;
    this.spawnedAt = now;
    this.lastHeartbeat = now;
    this.lastWords = new Promise((resolve) => (this.#heard = resolve));
  }

  /** It said why it cannot boot. */
  failed(message: string): void {
    this.failure = message;
    this.#heard();
  }

  /** Its control channel closed. */
  disconnected(): void {
    this.channel = undefined;
    this.#heard();
  }

  get pid(): number {
    return this.child.pid;
  }

  /** It serves: a booting worker becomes a serving one (a retiring one stays retiring). */
  booted(now: number): void {
    this.bootedAt = now;
    this.lastHeartbeat = now;
    if (this.state === "booting") this.state = "serving";
  }

  /** A heartbeat came, with the worker's counts. */
  beat(now: number, requests: number, rss: number, stats?: WorkerStats): void {
    if (stats) {
      // The share of the time since the last heartbeat with a request in flight.
      const previous = this.stats;
      const elapsed = now - this.lastHeartbeat;
      if (previous && elapsed > 0) this.busy = Math.min(1, Math.max(0, (stats.busySeconds - previous.busySeconds) / elapsed));
      this.stats = stats;
    }
    this.lastHeartbeat = now;
    this.requests = requests;
    this.rss = rss;
  }

  /** The worker as the metrics and `unicorn ctl` see it. */
  view(now: number): WorkerView {
    return {
      pid: this.pid,
      id: this.id,
      state: this.state,
      age: now - this.spawnedAt,
      heartbeatAge: now - this.lastHeartbeat,
      rss: this.rss,
      busy: this.busy,
      stats: this.stats,
    };
  }

  /** Asks it to finish its requests and exit (SIGTERM); false when it is retiring already. */
  retire(now: number): boolean {
    if (this.state === "retiring") return false;
    this.state = "retiring";
    this.retiredAt = now;
    this.child.kill("SIGTERM");
    return true;
  }

  /**
   * The server stops: gracefully, by message (its health path then says 503; with --shutdown-delay it
   * serves on meanwhile) and SIGTERM, or at once (SIGQUIT).
   */
  stop(graceful: boolean, delay = 0): void {
    this.state = "retiring";
    if (graceful) this.channel?.send({ type: "stop", delay });
    if (!graceful || delay <= 0 || !this.channel) this.child.kill(graceful ? "SIGTERM" : "SIGQUIT");
  }

  /** It said it is draining (it stopped accepting) by itself. */
  draining(): void {
    this.state = "retiring";
  }

  /** Marks it for replacement; false when it is marked already or retiring. */
  markForReplacement(reason: ReplaceReason): boolean {
    if (this.replace || this.state === "retiring") return false;
    this.replace = reason;
    return true;
  }

  /** SIGABRT: its loop missed the heartbeat, or it took too long to boot; SIGKILL follows if it stays. */
  abort(now: number): void {
    this.abortedAt = now;
    this.child.kill("SIGABRT");
  }

  kill(now: number): void {
    this.killedAt = now;
    this.child.kill("SIGKILL");
  }

  /** Sends another signal (USR1 and the like). */
  signal(signal: SignalName): void {
    this.child.kill(signal);
  }

  /** What is due now, by the clock: a SIGKILL, a SIGABRT, or nothing. */
  overdue(now: number, deadlines: Deadlines): Overdue | undefined {
    if (this.killedAt !== undefined) return undefined;
    if (this.retiredAt !== undefined) {
      return now - this.retiredAt > deadlines.retire ? { action: "kill", why: "retired" } : undefined;
    }
    if (this.abortedAt !== undefined) {
      return now - this.abortedAt >= deadlines.abortGrace ? { action: "kill", why: "aborted" } : undefined;
    }
    const booting = this.state === "booting";
    const limit = booting ? deadlines.bootTimeout || deadlines.timeout : deadlines.timeout;
    const since = booting ? this.spawnedAt : this.lastHeartbeat;
    if (limit <= 0 || now - since <= limit) return undefined;
    return { action: "abort", why: booting ? "boot" : "heartbeat", limit };
  }
}
