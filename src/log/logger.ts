/** Log levels, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where log lines go: one call per line, without the trailing newline. */
export type LogSink = (line: string) => void;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** `2026-11-26 10:00:00 +0000`: Gunicorn's error-log date, in local time. */
export function formatLogDate(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

/**
 * The error log: `[2026-11-26 10:00:00 +0000] [PID] [INFO] message`.
 *
 * A failing write (full disk, closed pipe) is counted and dropped: logging
 * never takes a process down.
 */
export class Logger {
  #threshold: number;
  #sink: LogSink;
  #pid: number;
  #now: () => Date;
  /** Lines that could not be written. */
  failedWrites = 0;

  readonly #reopen: (() => void) | undefined;

  constructor(options: { level: LogLevel; sink: LogSink; pid: number; now?: () => Date; reopen?: () => void }) {
    this.#reopen = options.reopen;
    this.#threshold = LOG_LEVELS.indexOf(options.level);
    this.#sink = options.sink;
    this.#pid = options.pid;
    this.#now = options.now ?? (() => new Date());
  }

  /** Reopens the log file, after logrotate moved it (USR1). */
  reopen(): void {
    try {
      this.#reopen?.();
    } catch {
      this.failedWrites++;
    }
  }

  /** Changes the threshold, as a reload of the config does. */
  setLevel(level: LogLevel): void {
    this.#threshold = LOG_LEVELS.indexOf(level);
  }

  /** Whether a line at this level would be written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#threshold;
  }

  log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    const head = `[${formatLogDate(this.#now())}] [${this.#pid}] [${level.toUpperCase()}] `;
    try {
      this.#sink(head + message);
    } catch {
      this.failedWrites++;
    }
  }

  debug(message: string): void {
    this.log("debug", message);
  }
  info(message: string): void {
    this.log("info", message);
  }
  warning(message: string): void {
    this.log("warning", message);
  }
  error(message: string): void {
    this.log("error", message);
  }
  critical(message: string): void {
    this.log("critical", message);
  }
}
