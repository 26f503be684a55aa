/** The arbiter's view of one worker; the worker's own code is in `src/worker/`. */
import type { Channel, WorkerProcess } from "../runtime.ts";

/** A worker's life as the arbiter tracks it. */
export type WorkerState = "booting" | "serving" | "retiring";

export class WorkerHandle {
  /** Spawn number, increasing: a larger id is a younger worker. */
  readonly id: number;
  readonly child: WorkerProcess;
  readonly spawnedAt: number;
  state: WorkerState = "booting";
  bootedAt: number | undefined;
  lastHeartbeat: number;
  requests = 0;
  channel: Channel | undefined;
  /** When the arbiter gave up on it and sent SIGKILL. */
  killedAt: number | undefined;

  constructor(id: number, child: WorkerProcess, now: number) {
    this.id = id;
    this.child = child;
    this.spawnedAt = now;
    this.lastHeartbeat = now;
  }

  get pid(): number {
    return this.child.pid;
  }
}
