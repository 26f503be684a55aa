/** `--reload`: watches the app's folder (or the working directory) and extra files for source changes. */
import type { Config } from "../config/settings.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime.ts";
import { parseAppSpec } from "../worker/app-loader.ts";

/** Files whose change reloads the workers (logs, databases and the like do not). */
const SOURCE_FILE = /\.(m|c)?(j|t)sx?$|\.json$/;
/** How long the writes to a source file must have stopped before a reload, in ms (editors write in steps). */
const SETTLE_MS = 200;

/** Starts watching; `onChange` hears of a source file once its writes have settled. Returns a function that stops. */
export function watchSourceFiles(runtime: Runtime, config: Config, log: Logger, onChange: (file: string) => void): () => void {
  const app = config.app;
  const root = typeof app === "string" ? runtime.resolvePath(runtime.cwd(), `${parseAppSpec(app).path}/..`) : runtime.cwd();
  const extra = config.reloadExtraFiles.map((f) => runtime.resolvePath(runtime.cwd(), f));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = runtime.watchSources([root], extra, (file) => {
    if (!extra.includes(file) && !SOURCE_FILE.test(file)) return;
    clearTimeout(timer);
    timer = setTimeout(() => onChange(file), SETTLE_MS);
  });
  log.info(`Watching ${root}${extra.length ? ` and ${extra.length} more files` : ""} for changes (--reload)`);
  return () => {
    clearTimeout(timer);
    stop();
  };
}
