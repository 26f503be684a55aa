/**
 * The arbiter's control folder in the temp folder, `unicorn-PID-XXXXXX`: the control socket lives in
 * it. The pid in its name lets a later arbiter tell the folder of one that died (SIGKILL) and remove it.
 */
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime.ts";

const PREFIX = "unicorn-";

/** Removes the folders of arbiters that are gone, then makes this arbiter's. */
export function makeControlDir(runtime: Runtime, log: Logger): string {
  for (const dir of runtime.tempDirs(PREFIX)) {
    const pid = Number(/\/unicorn-(\d+)-[^/]*$/.exec(dir)?.[1]);
    if (!pid || pid === runtime.pid || runtime.kill(pid, 0)) continue;
    runtime.removePath(dir);
    log.debug(`Removed ${dir}, left by an arbiter (pid:${pid}) that is gone`);
  }
  return runtime.makeTempDir(`${PREFIX}${runtime.pid}-`);
}
