/**
 * `-u/--user`, `-g/--group`: the uid and gid workers are started with. The
 * arbiter keeps its own (it binds privileged ports first); the workers drop to
 * these when spawned, which also clears root's supplementary groups.
 */
import { usageError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";

/** The ids workers run as; undefined fields keep the arbiter's. */
export interface WorkerIds {
  readonly uid?: number;
  readonly gid?: number;
}

function lookup(runtime: Runtime, file: string, name: string): string[] | undefined {
  const text = runtime.readTextFile(file) ?? "";
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name) return fields;
  }
  return undefined;
}

/** Resolves names or numbers against /etc/passwd and /etc/group. */
export function resolveWorkerIds(runtime: Runtime, user: string | undefined, group: string | undefined): WorkerIds {
  let uid: number | undefined;
  let gid: number | undefined;
  if (user !== undefined) {
    if (/^\d+$/.test(user)) uid = Number(user);
    else {
      const entry = lookup(runtime, "/etc/passwd", user);
      if (!entry) throw usageError(`Invalid value for "--user": no user "${user}" in /etc/passwd: give a name or a uid`);
      uid = Number(entry[2]);
      gid = Number(entry[3]);
    }
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const entry = lookup(runtime, "/etc/group", group);
      if (!entry) throw usageError(`Invalid value for "--group": no group "${group}" in /etc/group: give a name or a gid`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid };
}
