/** The arbiter's view of one worker; the worker's own code is in `src/worker/`. */
import type { Channel, WorkerProcess } from "../runtime.ts";

/** A worker's life as the arbiter tracks it. */
export type WorkerState = "booting" | "serving" | "retiring";

/** Why a worker is to be replaced once a younger one serves. */
export type ReplaceReason = "reload" | "max-requests" | "memory" | "stuck";

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

  constructor(id: number, generation: number, child: WorkerProcess, now: number) {
    this.id = id;
    this.generation = generation;
    this.child = child;
    this.spawnedAt = now;
    this.lastHeartbeat = now;
  }

  get pid(): number {
    return this.child.pid;
  }
}
