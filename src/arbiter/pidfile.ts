/** The pidfile: written at start, removed at exit if it is still ours. */
import { ExitCode, UnicornError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";

/** Writes the arbiter's pid to `path`; returns the function that removes it. */
export function writePidfile(runtime: Runtime, path: string): () => void {
  const existing = Number(runtime.readTextFile(path)?.trim());
  if (existing > 0 && existing !== runtime.pid && runtime.kill(existing, 0)) {
    throw new UnicornError(`Cannot write pidfile "${path}": process ${existing} is running and holds it`, ExitCode.USAGE);
  }
  try {
    runtime.writeTextFile(path, `${runtime.pid}\n`);
  } catch (error) {
    throw new UnicornError(`Cannot write pidfile "${path}": ${(error as Error).message}`, ExitCode.USAGE);
  }
  return () => {
    if (Number(runtime.readTextFile(path)?.trim()) === runtime.pid) runtime.removePath(path);
  };
}
