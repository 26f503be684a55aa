/**
 * Workers that cannot boot: which exits halt the arbiter (with the worker's own exit code) rather
 * than get respawned, the count of workers in a row that exited before they ever served, and the
 * reasons already said, so that N workers failing alike are reported once.
 */
import { ExitCode } from "../errors.ts";

/**
 * Workers in a row that exit before they ever serve (not exit 3 or 4: a runtime that cannot start
 * the worker, a crash while importing) before the arbiter halts with exit 3 rather than respawn forever.
 */
export const MAX_UNBOOTED = 5;

/** Why the arbiter halts, and the code it exits with. */
export interface Halt {
  readonly reason: string;
  readonly code: number;
}

/**
 * Why a worker's exit code halts the arbiter (with that code) rather than get it respawned: it could
 * not boot (3), load the app (4), or, before it ever served, read its config (2) or get a permission
 * (6), none of which a respawn changes.
 */
export function haltingExit(code: number | null, booted: boolean): Halt | undefined {
  if (code === ExitCode.WORKER_BOOT_ERROR) return { reason: "a worker failed to boot", code };
  if (code === ExitCode.APP_LOAD_ERROR) return { reason: "the app failed to load", code };
  if (booted) return undefined;
  if (code === ExitCode.USAGE) return { reason: "a worker could not load its configuration", code };
  if (code === ExitCode.PERMISSION) return { reason: "a worker lacks a runtime permission", code };
  return undefined;
}

export class BootFailures {
  /** Workers in a row that exited before they served. */
  #unbooted = 0;
  /** Reasons already said. */
  readonly #said = new Set<string>();

  /** A worker serves: the count starts again. */
  served(): void {
    this.#unbooted = 0;
  }

  /** A reload was abandoned: its workers' exits count no more. */
  resetCount(): void {
    this.#unbooted = 0;
  }

  /** A new generation (HUP) starts with a clean slate: its failures count, and are said, afresh. */
  newGeneration(): void {
    this.#unbooted = 0;
    this.#said.clear();
  }

  /**
   * What to log for a worker that said (or did not say) why it could not boot, or undefined when the
   * same reason was said already.
   */
  toSay(worker: { readonly pid: number; readonly failure?: string | undefined }): string | undefined {
    const failure = worker.failure ?? `Worker (pid:${worker.pid}) gave no reason; its own output above may say why`;
    if (this.#said.has(failure)) return undefined;
    this.#said.add(failure);
    return failure;
  }

  /**
   * Counts a worker that exited before it served, unexpectedly (not retired, not during a stop);
   * past {@linkcode MAX_UNBOOTED} in a row, the arbiter halts with exit code 3.
   */
  exitedUnbooted(code: number | null, signal: string | null): Halt | undefined {
    if (++this.#unbooted < MAX_UNBOOTED) return undefined;
    const how = signal !== null ? `was sent ${signal}` : `exited with code ${code}`;
    return {
      reason: `${this.#unbooted} workers in a row exited before they served (the last ${how}); ` +
        "their own output above says why",
      code: ExitCode.WORKER_BOOT_ERROR,
    };
  }
}
