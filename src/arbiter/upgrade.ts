/**
 * The binary upgrade (USR2), both sides of the hand-over: the old arbiter starts a new one with its own
 * command line and hands it the listeners; the new one adopts them and takes over once the old is gone.
 * Also where systemd's socket activation is read, since it arrives the same way.
 */
import { messageOf } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime.ts";
import type { Inherited, OpenListeners } from "./listeners.ts";

/** Variables that hand sockets to an arbiter; never passed on to workers or a further arbiter. */
export const INHERITANCE_ENV: readonly string[] = [
  "UNICORN_PID",
  "UNICORN_FD",
  "UNICORN_PORTS",
  "LISTEN_PID",
  "LISTEN_FDS",
  "LISTEN_FDNAMES",
];

export class Upgrade {
  /** In the old arbiter: the pid of the new one it started, until that exits. */
  successor: number | undefined;
  /** In a new arbiter: the old one's pid, until it has gone. */
  predecessor: number | undefined;
  readonly #runtime: Runtime;
  readonly #log: Logger;

  constructor(runtime: Runtime, log: Logger) {
    this.#runtime = runtime;
    this.#log = log;
  }

  /** What the environment hands over: an old arbiter's sockets (USR2) or systemd's (LISTEN_FDS). */
  inherited(): Inherited | undefined {
    const env = this.#runtime.env();
    const list = (text: string | undefined) => (text ? text.split(",").map(Number) : undefined);
    if (env.UNICORN_PID) {
      this.predecessor = Number(env.UNICORN_PID);
      return { fds: list(env.UNICORN_FD), ports: list(env.UNICORN_PORTS), from: `the old arbiter (pid:${env.UNICORN_PID})` };
    }
    if (env.LISTEN_FDS && Number(env.LISTEN_PID) === this.#runtime.pid) {
      const count = Number(env.LISTEN_FDS);
      return { fds: Array.from({ length: count }, (_, i) => 3 + i), from: "systemd (LISTEN_FDS)" };
    }
    return undefined;
  }

  /**
   * Starts a new arbiter with this one's command line, handing it the listening descriptors (shared) or
   * the ports (reuse-port). `env` is this arbiter's environment less INHERITANCE_ENV.
   */
  start(listeners: OpenListeners, env: Record<string, string>): void {
    if (this.successor) return this.#log.warning(`Ignoring USR2: a new arbiter (pid:${this.successor}) is running`);
    if (this.predecessor) return this.#log.warning("Ignoring USR2: this arbiter has not taken over from the old one yet");
    env.UNICORN_PID = String(this.#runtime.pid);
    if (listeners.bound.length) env.UNICORN_FD = listeners.bound.map((_, i) => 3 + i).join(",");
    else env.UNICORN_PORTS = listeners.serve.map((l) => (l.kind === "reuse-port" ? l.port : 0)).join(",");
    let child;
    try {
      child = this.#runtime.spawnWorker({ role: "arbiter", env, fds: listeners.bound.map((l) => l.fd) });
    } catch (error) {
      return this.#log.error(`Cannot start a new arbiter: ${messageOf(error)}`);
    }
    const pid = child.pid;
    this.successor = pid;
    child.onExit((code, signal) => {
      if (this.successor === pid) this.successor = undefined;
      this.#log.info(`The new arbiter (pid:${pid}) exited with ${signal ?? `code ${code}`}`);
    });
    // Tests wait for this line.
    this.#log.info(`Handling signal: usr2; started a new arbiter with pid: ${pid}`);
  }

  /** In a new arbiter: the old one's pid once, at the tick it is found gone. */
  promoted(): number | undefined {
    const old = this.predecessor;
    if (old === undefined || this.#runtime.kill(old, 0)) return undefined;
    this.predecessor = undefined;
    return old;
  }
}
