/**
 * `--reload`: watches a source tree with one non-recursive fs.watch per
 * folder (node_modules, .git and dist skipped), which Node, Bun and Deno all
 * implement with inotify; Node 20's recursive watch would walk node_modules.
 */
import fs from "node:fs";
import path from "node:path";

const SKIP = new Set(["node_modules", ".git", "dist", ".cache"]);
const MAX_FOLDERS = 2000;

function folders(root: string, out: string[]): void {
  if (out.length >= MAX_FOLDERS) return;
  out.push(root);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isDirectory() && !SKIP.has(entry.name) && !entry.name.startsWith(".")) {
      folders(path.join(root, entry.name), out);
    }
  }
}

/** Calls `onChange` with the path of a changed file under `roots`, or one of `files`; returns a stop function. */
export function watchSources(roots: readonly string[], files: readonly string[], onChange: (file: string) => void): () => void {
  const watchers: fs.FSWatcher[] = [];
  const dirs: string[] = [];
  for (const root of roots) folders(root, dirs);
  for (const dir of dirs) {
    try {
      watchers.push(fs.watch(dir, (_event, name) => name && onChange(path.join(dir, String(name)))));
    } catch {
      // A folder that vanished or cannot be read is not watched.
    }
  }
  for (const file of files) {
    try {
      watchers.push(fs.watch(file, () => onChange(file)));
    } catch {
      // Missing extra files are watched once they exist only after a restart.
    }
  }
  for (const watcher of watchers) watcher.on("error", () => watcher.close());
  return () => {
    for (const watcher of watchers) watcher.close();
  };
}
