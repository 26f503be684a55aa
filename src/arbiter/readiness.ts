/**
 * What the service manager is told (systemd's sd_notify): READY=1 once the first workers, or a
 * reload's, all serve; RELOADING=1 when a reload begins; STOPPING=1 when a stop does. A failure to
 * tell is said once in the log, not at every state.
 */
import { messageOf } from "../errors.ts";
import type { Logger } from "../log/logger.ts";

export class Readiness {
  #ready = false;
  #failed = false;
  readonly #send: (fields: readonly string[], onError: (error: unknown) => void) => void;
  readonly #log: Logger;

  constructor(send: (fields: readonly string[], onError: (error: unknown) => void) => void, log: Logger) {
    this.#send = send;
    this.#log = log;
  }

  #notify(...fields: string[]): void {
    this.#send(fields, (error) => {
      if (this.#failed) return;
      this.#failed = true;
      this.#log.warning(`Cannot notify systemd (NOTIFY_SOCKET is set): ${messageOf(error)}; is systemd-notify installed?`);
    });
  }

  /** READY=1, once, when `serving` reaches `wanted` and no reload is under way. */
  check(serving: number, wanted: number, reloading: boolean): void {
    if (this.#ready || reloading || serving < wanted) return;
    this.#ready = true;
    this.#notify("READY=1", `STATUS=Serving with ${serving} workers`);
  }

  reloading(): void {
    this.#ready = false;
    this.#notify("RELOADING=1", "STATUS=Reloading");
  }

  /** A reload that failed leaves the previous workers serving: ready again. */
  reloadFailed(): void {
    this.#ready = true;
    this.#notify("READY=1", "STATUS=Reload failed; the previous workers serve");
  }

  stopping(graceful: boolean): void {
    this.#notify("STOPPING=1", `STATUS=Stopping ${graceful ? "gracefully" : "at once"}`);
  }
}
