/** The command line: resolve the config, then run the arbiter and exit with its code. */
import { resolveConfig } from "../config/resolve.ts";
import { Arbiter } from "../arbiter/arbiter.ts";
import { ExitCode, stackOf, UnicornError } from "../errors.ts";
import { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { parseAppSpec } from "../worker/app-loader.ts";
import { usage } from "./usage.ts";

/** Runs `unicorn [OPTIONS] APP` on `runtime` and exits the process. */
export async function main(runtime: Runtime): Promise<never> {
  let resolved;
  try {
    resolved = resolveConfig(runtime.args(), runtime.env());
    if (resolved.config.app !== undefined) parseAppSpec(resolved.config.app);
  } catch (error) {
    const message = error instanceof UnicornError ? error.message : stackOf(error);
    runtime.writeError(`unicorn: ${message}. Run "unicorn --help" for usage.`);
    return runtime.exit(error instanceof UnicornError ? error.exitCode : ExitCode.INTERNAL);
  }
  if (resolved.action === "help") {
    runtime.writeOut(usage());
    return runtime.exit(ExitCode.OK);
  }
  if (resolved.action === "version") {
    runtime.writeOut(`unicorn ${VERSION} (${runtime.name} ${runtime.version})`);
    return runtime.exit(ExitCode.OK);
  }
  const { config } = resolved;
  const log = new Logger({ level: config.logLevel, sink: (line) => runtime.writeError(line), pid: runtime.pid });
  let code: number;
  try {
    code = await new Arbiter(runtime, config, log).run();
  } catch (error) {
    if (error instanceof UnicornError) {
      log.error(error.message);
      code = error.exitCode;
    } else {
      log.critical(`Unhandled error in the arbiter: ${stackOf(error)}`);
      code = ExitCode.INTERNAL;
    }
  }
  return runtime.exit(code);
}
