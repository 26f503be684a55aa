/**
 * npm (npx, `npm start`, `npm exec`) runs the bin under `sh -c` and, when sent SIGTERM, exits
 * without passing it on: the arbiter would go on serving with PPID 1 (measured). Started so, the
 * arbiter treats its parent's exit as TERM. `exec node_modules/.bin/unicorn` avoids the middlemen.
 */
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime.ts";

export class Launcher {
  readonly #runtime: Runtime;
  #parent: { name: string; pid: number } | undefined;

  /** Looks at who started this arbiter (not a USR2 arbiter: its parent is the old arbiter). */
  constructor(runtime: Runtime, log: Logger, upgraded: boolean) {
    this.#runtime = runtime;
    const env = runtime.env();
    if (upgraded || !(env.npm_lifecycle_event || env.npm_command)) return;
    const name = env.npm_config_user_agent?.split("/", 1)[0] || "npm";
    const pid = runtime.parentPid();
    const line = `Started by ${name} (parent pid:${pid}): unicorn stops gracefully when it exits`;
    // Measured: npm exits on TERM and leaves its child running; bun (bunx, bun run) passes the signal on.
    if (name === "npm") log.info(`${line}, as npm does not pass signals on; in production, exec node_modules/.bin/unicorn`);
    else log.debug(line);
    this.#parent = { name, pid };
  }

  /** The launcher that is gone since the last look (it was sent TERM, or killed), once; else undefined. */
  gone(): { name: string; pid: number } | undefined {
    const parent = this.#parent;
    if (!parent || this.#runtime.parentPid() === parent.pid) return undefined;
    this.#parent = undefined;
    return parent;
  }
}
