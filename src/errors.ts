/**
 * The exit-code table and the one error class for domain failures.
 *
 * A worker that exits with `WORKER_BOOT_ERROR` or `APP_LOAD_ERROR` halts the
 * arbiter with the same code instead of being respawned forever.
 */
export const ExitCode = {
  /** Normal exit. */
  OK: 0,
  /** An internal error: a bug in unicorn or an unexpected failure. */
  INTERNAL: 1,
  /** A usage or configuration error: a bad flag, value or config file. */
  USAGE: 2,
  /** A worker failed to boot: the app's factory threw, or it could not serve its listener. */
  WORKER_BOOT_ERROR: 3,
  /** The application could not be loaded: import failed or the export is not a Fetch handler. */
  APP_LOAD_ERROR: 4,
  /** A listener could not be bound. */
  CANNOT_LISTEN: 5,
  /** The runtime lacks a permission unicorn needs (Deno without --allow-*). */
  PERMISSION: 6,
} as const;

/** What each exit code means, in a few words (`--help`, docs). */
export const EXIT_CODE_MEANINGS: Readonly<Record<ExitCodeValue, string>> = {
  0: "ok",
  1: "internal error",
  2: "usage or config error",
  3: "worker failed to boot",
  4: "app failed to load",
  5: "cannot listen",
  6: "missing runtime permission",
};

/** One of the values of {@linkcode ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure unicorn reports to the user: a one-line message and the exit code
 * to leave with.
 *
 * @example
 * ```ts
 * throw new UnicornError(`Cannot bind "0.0.0.0:80": permission denied`, ExitCode.CANNOT_LISTEN);
 * ```
 */
export class UnicornError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UnicornError";
    this.exitCode = exitCode;
  }
}

/** A usage error: exits 2 and points at `--help`. */
export function usageError(message: string): UnicornError {
  return new UnicornError(message, ExitCode.USAGE);
}

/** The message of anything thrown, without a stack. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The stack of anything thrown, or its message. */
export function stackOf(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** Whether the runtime refused for lack of a permission (Deno's NotCapable, formerly PermissionDenied). */
export function isPermissionError(error: unknown): boolean {
  return error instanceof Error && (error.name === "NotCapable" || error.name === "PermissionDenied");
}

/** The one-line exit-6 error for a missing runtime permission. */
export function permissionError(error: unknown): UnicornError {
  return new UnicornError(
    `Missing a runtime permission: ${messageOf(error).replace(/, run again with .*$/, "")}: ` +
      "run with -A, or --allow-net --allow-read --allow-write --allow-env --allow-run --allow-sys",
    ExitCode.PERMISSION,
    { cause: error },
  );
}
