/**
 * Crash-loop backoff: a worker that dies soon after it starts delays the next
 * spawn, doubling each time (0.25 s, 0.5 s, 1 s ... 30 s), so a broken app
 * never makes the arbiter a busy loop. A worker that boots and stays up ends it.
 */

/** A worker that lived longer than this after booting did not crash "right after boot", in seconds. */
const STABLE_SECONDS = 10;
const FIRST_DELAY = 0.25;
const MAX_DELAY = 30;

export class CrashBackoff {
  /** Crashes in a row. */
  crashes = 0;
  /** No spawn before this monotonic time. */
  until = 0;

  /** Records an unexpected exit; returns the delay before the next spawn, in seconds. */
  crashed(now: number, livedAfterBoot: number): number {
    if (livedAfterBoot >= STABLE_SECONDS) {
      this.reset();
      return 0;
    }
    this.crashes++;
    const delay = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** (this.crashes - 1));
    this.until = now + delay;
    return delay;
  }

  reset(): void {
    this.crashes = 0;
    this.until = 0;
  }
}
