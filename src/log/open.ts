/** The error log of a process: standard error, or a file given by `--error-logfile`. */
import type { Runtime } from "../runtime.ts";
import { type LogLevel, Logger } from "./logger.ts";

/** Opens the error log named by `errorLog` ("-" is standard error). */
export function openErrorLog(runtime: Runtime, errorLog: string, level: LogLevel): Logger {
  if (errorLog === "-" || errorLog === "") {
    return new Logger({ level, sink: (line) => runtime.writeError(line), pid: runtime.pid });
  }
  const file = runtime.openLogFile(errorLog);
  return new Logger({ level, sink: (line) => file.write(line), pid: runtime.pid, reopen: () => file.reopen() });
}
