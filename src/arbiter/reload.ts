/**
 * HUP, as a state machine: generations of workers, the reload under way, and the generations given
 * up on. The arbiter asks it what a worker's boot failure means and whether the reload is done; it
 * holds no process and does no I/O, so it is tested on its own.
 *
 *   idle ──HUP──> reloading(g) ──enough workers of g serve, none older left──> idle (complete)
 *                     │  └──HUP──> reloading(g+1), g abandoned
 *                     └──a worker of g cannot boot──> idle (aborted: g abandoned, previous config back)
 */

/** What a reload keeps to go back to when its workers cannot boot. */
export interface Rollback<C> {
  readonly config: C;
  readonly configFile: string | undefined;
  readonly numWorkers: number;
}

interface UnderWay<C> extends Rollback<C> {
  readonly generation: number;
  readonly startedAt: number;
}

/** A worker as the reload sees it. */
export interface GenerationMember {
  readonly generation: number;
  readonly state: "booting" | "serving" | "retiring";
}

/** What a worker's failure to boot means. */
export type BootFailure = "ignore" | "abort-reload" | "halt";

export class Reloads<C> {
  #generation = 1;
  #current: UnderWay<C> | undefined;
  readonly #abandoned = new Set<number>();

  /** The generation a worker spawned now belongs to. */
  get generation(): number {
    return this.#generation;
  }

  /** The generation being reloaded to, if a reload is under way. */
  get underWay(): number | undefined {
    return this.#current?.generation;
  }

  /**
   * Starts a new generation. A reload already under way is superseded: its workers' boot failures
   * halt nothing, and the rollback stays the one from before it.
   */
  begin(now: number, rollback: Rollback<C>): number {
    const current = this.#current;
    if (current) this.#abandoned.add(current.generation);
    this.#generation++;
    this.#current = { ...(current ?? rollback), generation: this.#generation, startedAt: now };
    return this.#generation;
  }

  /** What a worker that failed to boot (exit 3 or 4) means for the server. */
  bootFailed(worker: GenerationMember): BootFailure {
    if (this.#abandoned.has(worker.generation) || worker.state === "retiring") return "ignore";
    if (this.#current && worker.generation === this.#current.generation) return "abort-reload";
    return "halt";
  }

  /**
   * Gives up on the reload under way: its generation is abandoned, and workers started from now on
   * (to replace one that dies) belong to a generation of their own. Returns what to go back to.
   */
  abort(): { generation: number; rollback: Rollback<C> } {
    const current = this.#current!;
    this.#abandoned.add(current.generation);
    this.#current = undefined;
    this.#generation++;
    return { generation: current.generation, rollback: current };
  }

  /**
   * Whether the reload under way is done: no worker of an older generation left but retiring ones,
   * and `numWorkers` of the new one serving. Reports it once, with the time it took.
   */
  complete(workers: Iterable<GenerationMember>, numWorkers: number, now: number): { generation: number; serving: number; ms: number } | undefined {
    const current = this.#current;
    if (!current) return undefined;
    let serving = 0;
    for (const worker of workers) {
      if (worker.generation < current.generation && worker.state !== "retiring") return undefined;
      if (worker.generation === current.generation && worker.state === "serving") serving++;
    }
    if (serving < numWorkers) return undefined;
    this.#current = undefined;
    return { generation: current.generation, serving, ms: Math.round((now - current.startedAt) * 1000) };
  }
}
