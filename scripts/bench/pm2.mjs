// PM2 for the benchmarks, never a dependency of the project: installed on first use with
// `npm install --prefix` into ${XDG_CACHE_HOME:-~/.cache}/unicorn-bench/pm2 (kept for the next runs), and
// run with a PM2_HOME of its own inside that folder, so that the user's PM2 (~/.pm2) is never touched.
// `pm2 kill` ends its daemon after each case and at exit; the folder of this run's PM2_HOME is removed.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { killLeft, treeProcesses } from "./measure.mjs";

export const PM2_DIR = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "unicorn-bench/pm2");
const PM2 = path.join(PM2_DIR, "node_modules/pm2/bin/pm2");
const SPEC = "pm2@7";

let home = "";
// Set while a daemon may be running: `pm2 kill` with none running would start one to kill it.
let used = false;

const pm2 = (...args) =>
  execFileSync(process.execPath, [PM2, ...args], {
    env: { ...process.env, PM2_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    timeout: 60_000,
  });

/** The daemon's pid written in a PM2_HOME, or 0. */
function daemonPid(dir) {
  try {
    return Number(fs.readFileSync(path.join(dir, "pm2.pid"), "utf8")) || 0;
  } catch {
    return 0;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

/**
 * Installs PM2 if it is not in the cache yet and makes this run's PM2_HOME. Returns "" when PM2 can run,
 * else why not (no network for the install...), for the caller to skip its PM2 cases.
 */
export function preparePm2() {
  if (!fs.existsSync(PM2)) {
    console.error(`installing ${SPEC} into ${PM2_DIR} (once; not a dependency of the project)`);
    try {
      fs.mkdirSync(PM2_DIR, { recursive: true });
      execFileSync(
        "npm",
        ["install", "--prefix", PM2_DIR, "--no-audit", "--no-fund", "--loglevel=error", "--fetch-retries=1", SPEC],
        { stdio: ["ignore", "inherit", "pipe"], encoding: "utf8", timeout: 300_000 },
      );
    } catch (error) {
      const lines = (error.stderr || error.message || "").split("\n").map((l) => l.replace(/^npm error /, "").trim()).filter(Boolean);
      const why = [lines.find((l) => l.startsWith("code ")), lines.find((l) => /Error\b/.test(l)) ?? lines[0]].filter(Boolean).join(": ");
      return `npm install ${SPEC} into ${PM2_DIR} failed: ${why}`;
    }
    if (!fs.existsSync(PM2)) return `npm install ${SPEC} into ${PM2_DIR} left no ${PM2}`;
  }
  // Homes left by runs that were killed outright, whose daemon is gone.
  for (const name of fs.readdirSync(PM2_DIR)) {
    const dir = path.join(PM2_DIR, name);
    if (name.startsWith("home-") && !alive(daemonPid(dir))) fs.rmSync(dir, { recursive: true, force: true });
  }
  // Its sockets live in PM2_HOME: a Unix socket's path has at most 107 bytes.
  home = fs.mkdtempSync(path.join(PM2_DIR.length < 70 ? PM2_DIR : os.tmpdir(), "home-"));
  return "";
}

export function pm2Version() {
  try {
    return JSON.parse(fs.readFileSync(path.join(PM2_DIR, "node_modules/pm2/package.json"), "utf8")).version;
  } catch {
    return "-";
  }
}

/** `pm2 start ARGS` in this run's PM2_HOME; returns the daemon's pid, whose process tree holds the workers. */
export function pm2Start(args) {
  used = true;
  pm2("start", ...args);
  const pid = daemonPid(home);
  if (!pid) throw new Error(`pm2 start: no daemon pid in ${home}`);
  return pid;
}

/** Ends this run's PM2 daemon and its workers, if one may be running. */
export async function pm2Kill() {
  if (!used || !home) return;
  used = false;
  const pid = daemonPid(home);
  const procs = pid ? treeProcesses(pid) : [];
  try {
    pm2("kill");
  } catch (error) {
    console.error(`pm2 kill: ${error.message}`);
  }
  // What `pm2 kill` left behind, if anything.
  await killLeft(procs, 2_000);
}

/** At exit: the daemon, then this run's PM2_HOME. */
export async function pm2CleanUp() {
  await pm2Kill();
  if (home) fs.rmSync(home, { recursive: true, force: true });
  home = "";
}
