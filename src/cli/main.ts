/** The command line: resolve the config, then run the arbiter and exit with its code. */
import { resolveHttpSettings } from "../arbiter/http-config.ts";
import { Arbiter } from "../arbiter/arbiter.ts";
import { findConfigFile, loadConfigFile } from "../config/file.ts";
import { printConfig } from "../config/print.ts";
import { runCtl } from "../ctl/client.ts";
import { parseArgs, type Resolved, resolveConfig, splitArgs } from "../config/resolve.ts";
import { ExitCode, isPermissionError, messageOf, permissionError, stackOf, UnicornError, usageError } from "../errors.ts";
import { compileAccessFormat } from "../http/access-log.ts";
import type { Logger } from "../log/logger.ts";
import { openErrorLog } from "../log/open.ts";
import type { Runtime } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { loadApp, notAnApp, parseAppSpec, toServable } from "../worker/app-loader.ts";
import { usage } from "./usage.ts";

async function resolve(
  runtime: Runtime,
  fresh = false,
): Promise<{ resolved: Resolved; configFile: string | undefined }> {
  const argv = runtime.args();
  const env = runtime.env();
  const cli = parseArgs(argv);
  if (cli.action !== "serve") return { resolved: resolveConfig(argv, {}), configFile: undefined };
  const cmdArgs = env.UNICORN_CMD_ARGS ? parseArgs(splitArgs(env.UNICORN_CMD_ARGS), "UNICORN_CMD_ARGS") : undefined;
  const configFile = findConfigFile(runtime, runtime.cwd(), [cli, cmdArgs]);
  const file = configFile ? await loadConfigFile(runtime, configFile, fresh) : undefined;
  const resolved = resolveConfig(argv, env, file);
  try {
    compileAccessFormat(resolved.config.accessLogFormat, env);
  } catch (error) {
    throw usageError(`Invalid value for "--access-logformat": ${messageOf(error)}: see the atoms in docs/settings.md`);
  }
  if (configFile) {
    resolved.config.config = configFile;
    if (resolved.sources.config === "default") resolved.sources.config = env.UNICORN_CONFIG ? "env UNICORN_CONFIG" : "found";
  }
  if (typeof resolved.config.app === "string") parseAppSpec(resolved.config.app);
  return { resolved, configFile };
}

/** `--check-config`: loads the app here, as a worker would, and reports. */
async function checkConfig(runtime: Runtime, resolved: Resolved, log: Logger): Promise<number> {
  // The HTTP settings (engine, TLS files, address ranges) are checked as a start would check them.
  resolveHttpSettings(runtime, resolved.config);
  const app = resolved.config.app;
  const choice = resolved.config.interface;
  if (typeof app === "string") await loadApp(app, runtime, runtime.cwd(), { interface: choice });
  else if (!(await toServable(app, choice))) throw notAnApp('from the config file: "app"', app, choice);
  log.info("Config and app are valid");
  return ExitCode.OK;
}

/** Runs `unicorn [OPTIONS] APP` on `runtime` and exits the process. */
export async function main(runtime: Runtime): Promise<never> {
  // `unicorn ctl ...` talks to a running server; it never starts one.
  if (runtime.args()[0] === "ctl") return runtime.exit(await runCtl(runtime, runtime.args().slice(1)));
  let resolved: Resolved;
  let configFile: string | undefined;
  try {
    ({ resolved, configFile } = await resolve(runtime));
  } catch (caught) {
    const error = isPermissionError(caught) ? permissionError(caught) : caught;
    const message = error instanceof UnicornError ? error.message : stackOf(error);
    const hint = error instanceof UnicornError && error.exitCode === ExitCode.USAGE ? ' Run "unicorn --help" for usage.' : "";
    // A load failure carries the source line under its first line: the sentence ends on the first.
    const [first, ...rest] = message.split("\n");
    runtime.writeError([`unicorn: ${first}.${hint}`, ...rest].join("\n"));
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
  if (config.printConfig) {
    runtime.writeOut(printConfig(resolved));
    return runtime.exit(ExitCode.OK);
  }
  let log: Logger;
  try {
    log = openErrorLog(runtime, config.errorLog, config.logLevel);
  } catch (error) {
    runtime.writeError(`unicorn: Cannot open the error log "${config.errorLog}": ${(error as Error).message}`);
    return runtime.exit(ExitCode.USAGE);
  }
  for (const warning of resolved.warnings) log.warning(warning);
  let code: number;
  try {
    code = config.checkConfig
      ? await checkConfig(runtime, resolved, log)
      : await new Arbiter(runtime, config, log, {
        configFile,
        sources: resolved.sources,
        reopenLogs: () => log.reopen(),
        reloadConfig: async () => {
          const again = await resolve(runtime, true);
          for (const warning of again.resolved.warnings) log.warning(warning);
          return { config: again.resolved.config, configFile: again.configFile, sources: again.resolved.sources };
        },
      }).run();
  } catch (caught) {
    const error = isPermissionError(caught) ? permissionError(caught) : caught;
    if (error instanceof UnicornError) {
      log.error(error.message);
      code = error.exitCode;
    } else {
      log.critical(`Unhandled error in the arbiter: ${stackOf(error)}`);
      code = ExitCode.INTERNAL;
    }
  }
  // STOPPING=1 (and whatever came before it) reaches systemd before the main pid is gone.
  await runtime.notifyDone(2000);
  return runtime.exit(code);
}
