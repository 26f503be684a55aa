/**
 * A package manager that started the arbiter (npx, `npm start`, `npm exec`, `bun run`, bunx) and may
 * leave it behind. Measured (docs/deploy.md has the table): npm runs the bin under `sh -c`; sent TERM,
 * it passes TERM to the shell, which dies of it without passing it on, and npm exits; sent HUP, npm
 * dies of it and the shell lives on, unicorn under it, serving with no one to stop it; sent INT, it
 * passes INT to the shell, which waits for unicorn, and nothing happens. So the arbiter watches the
 * package manager itself, through the shell when there is one, and stops as on TERM when it is gone.
 * `exec node_modules/.bin/unicorn` (or the runtime, or the bin, as the command) avoids the middlemen.
 */
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime.ts";

/** The shells a package manager runs a script with (`sh -c`); they do not exec the last command. */
const SHELLS = new Set(["sh", "dash", "bash", "ash", "busybox", "zsh"]);

/** One process as /proc/PID/stat shows it; undefined where there is no /proc (not Linux) or no such process. */
function procStat(runtime: Runtime, pid: number): { comm: string; state: string; ppid: number; start: string } | undefined {
  const text = runtime.readTextFile(`/proc/${pid}/stat`);
  if (!text) return undefined;
  // "PID (COMM) STATE PPID ... STARTTIME ...": COMM may hold spaces and parentheses; STARTTIME is field 22.
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  return { comm: text.slice(text.indexOf("(") + 1, close), state: fields[0]!, ppid: Number(fields[1]), start: fields[19]! };
}

interface Watched {
  readonly name: string;
  /** The package manager's pid. */
  readonly pid: number;
  /** The arbiter's parent: the package manager, or the shell it runs scripts with. */
  readonly parent: number;
  /** The package manager's start time (/proc), so that a pid reused by another process is not taken for it. */
  readonly start?: string;
}

export class Launcher {
  readonly #runtime: Runtime;
  #watched: Watched | undefined;

  /** Looks at who started this arbiter (not a USR2 arbiter: its parent is the old arbiter). */
  constructor(runtime: Runtime, log: Logger, upgraded: boolean) {
    this.#runtime = runtime;
    const env = runtime.env();
    if (upgraded || !(env.npm_lifecycle_event || env.npm_command)) return;
    const name = env.npm_config_user_agent?.split("/", 1)[0] || "npm";
    const parent = runtime.parentPid();
    // Up through the shells (a script may run another), to the package manager.
    let pid = parent;
    let stat = procStat(runtime, pid);
    const shells: string[] = [];
    while (stat && SHELLS.has(stat.comm) && shells.length < 4) {
      shells.push(`${stat.comm} pid:${pid}`);
      pid = stat.ppid;
      stat = procStat(runtime, pid);
    }
    if (!stat) pid = parent;
    this.#watched = { name, pid, parent, start: stat?.start };
    const through = pid !== parent ? `pid:${pid}, through ${shells.join(", ")}` : `parent pid:${parent}`;
    const line = `Started by ${name} (${through}): unicorn stops gracefully when it exits`;
    // Measured: npm exits on TERM and HUP, and swallows INT, passing none on; bun (bunx, bun run) passes them on.
    if (name === "npm") {
      log.info(`${line}, as npm does not pass signals on (send HUP to unicorn's own pid to reload); ` +
        "in production, exec node_modules/.bin/unicorn");
    } else log.debug(line);
    // A container's command: its stop signal goes to PID 1, and when PID 1 exits the kernel kills every
    // process of the container at once. npm exits within a second of TERM: no graceful stop (measured).
    if (pid === 1 && name === "npm") {
      log.warning("npm is PID 1 (a container's command): on `docker stop` it exits at once and the kernel kills " +
        'unicorn and its workers before they finish their requests; make unicorn the command: CMD ["node_modules/.bin/unicorn", ...]');
    }
  }

  /** The package manager that is gone since the last look (it was sent TERM or HUP, or killed), once; else undefined. */
  gone(): { name: string; pid: number } | undefined {
    const watched = this.#watched;
    if (!watched || !this.#left(watched)) return undefined;
    this.#watched = undefined;
    return { name: watched.name, pid: watched.pid };
  }

  #left(watched: Watched): boolean {
    if (this.#runtime.parentPid() !== watched.parent) return true;
    if (watched.pid === watched.parent || watched.start === undefined) return false;
    const now = procStat(this.#runtime, watched.pid);
    return !now || now.state === "Z" || now.state === "X" || now.start !== watched.start;
  }
}
