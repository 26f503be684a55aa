/**
 * The arbiter's control folder in the temp folder, `unicorn-PID-nsNS-XXXXXX`: the control socket lives
 * in it. The pid in its name lets a later arbiter tell the folder of one that died (SIGKILL) and remove
 * it; the pid namespace in it keeps an arbiter from judging pids of another namespace (a container
 * sharing /tmp, `unshare --pid`), where the same number is another process or none.
 */
import { ExitCode, UnicornError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime.ts";

const PREFIX = "unicorn-";
const NAME = /\/unicorn-(\d+)-(?:ns(\d+)-)?[^/]*$/;

/** Removes the folders of arbiters that are gone, then makes this arbiter's. */
export function makeControlDir(runtime: Runtime, log: Logger): string {
  const namespace = runtime.pidNamespace();
  for (const dir of runtime.tempDirs(PREFIX)) {
    const [, pid, ns] = NAME.exec(dir) ?? [];
    if (!pid || Number(pid) === runtime.pid || ns !== namespace || runtime.kill(Number(pid), 0)) continue;
    try {
      runtime.removePath(dir);
      log.debug(`Removed ${dir}, left by an arbiter (pid:${pid}) that is gone`);
    } catch (error) {
      // Another user's folder (the sticky temp folder): theirs to remove, not a reason to stop.
      log.debug(`Left ${dir} (an arbiter's, pid:${pid}, that is gone): ${error instanceof Error ? error.message : error}`);
    }
  }
  const prefix = `${PREFIX}${runtime.pid}-${namespace ? `ns${namespace}-` : ""}`;
  try {
    return runtime.makeTempDir(prefix);
  } catch (error) {
    // A read-only root with no tmpfs at /tmp (a container), a full disk, a TMPDIR that is not there.
    const reason = error instanceof Error ? error.message : String(error);
    throw new UnicornError(
      `Cannot make unicorn's control folder in the temp folder (${reason}): give it a writable temp folder (TMPDIR, or a tmpfs at /tmp in a read-only container)`,
      ExitCode.USAGE,
      { cause: error },
    );
  }
}
