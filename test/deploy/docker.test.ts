/**
 * The images of examples/deploy/docker, built and run without a Docker engine. Each Dockerfile's
 * instructions run as shell commands in a folder standing in for the image's root, in order, as
 * written; the base image is stood in for by this machine's Node, Bun and Deno and the few facts the
 * Dockerfile relies on (its user, its ENV), and the registry's `unicorn-http` is this checkout's
 * packed tarball (test/deploy/registry.ts). The container is a PID, network and mount namespace:
 * the ENTRYPOINT and CMD as PID 1, as the image's USER, on a read-only root with a writable /tmp (as
 * the Kubernetes manifest runs it). The HEALTHCHECK runs inside it as Docker runs it, and TERM to PID
 * 1 must stop it with exit 0, as `docker stop` would. Also the finding that made the images start
 * under tini: unicorn as PID 1 does not reap orphans, on any runtime.
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { killAll, ROOT, type RuntimeName, Server, WAIT_MS } from "../helpers/server.ts";
import { envPairs, flag, type Image, readImage } from "./dockerfile.ts";
import { type Registry, serveRegistry } from "./registry.ts";

const EXAMPLE = path.join(ROOT, "examples/deploy/docker");
const BIN = path.join(ROOT, "node_modules/.bin");
const RUNTIMES = ["node", "bun", "deno"] as const;
/** `docker stop`'s default: TERM, then SIGKILL this long after. */
const STOP_TIMEOUT_MS = 10_000;
/** Orphans the PID 1 test makes. */
const ORPHANS = 20;

/** What a base image brings that the Dockerfile relies on, and its stand-in on this machine. */
interface Base {
  runtime: RuntimeName;
  /** The binary standing in for the image's runtime. */
  binary: string;
  /** Home folders of the image's users by uid: Docker sets HOME from the image's /etc/passwd. */
  homes: Record<string, string>;
  /** The ENV the base image sets. */
  env: Record<string, string>;
  /** Folders the base image has, with their owner's uid. */
  dirs: Record<string, number>;
  /** The lockfile the Dockerfile installs from, and the command a user makes it with. */
  lock: { file: string; command: string[] };
}

const BASES: Record<string, Base> = {
  "node:24-slim": {
    runtime: "node",
    binary: process.execPath,
    homes: { "1000": "/home/node" },
    env: {},
    dirs: { "/home/node": 1000 },
    lock: { file: "package-lock.json", command: ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"] },
  },
  "oven/bun:1-slim": {
    runtime: "bun",
    binary: path.join(BIN, "bun"),
    homes: { "1000": "/home/bun" },
    env: { BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
    dirs: { "/home/bun": 1000 },
    lock: { file: "bun.lock", command: ["bun", "install", "--lockfile-only"] },
  },
  "denoland/deno:debian": {
    runtime: "deno",
    binary: path.join(BIN, "deno"),
    // useradd without --create-home: HOME names a folder that is not there.
    homes: { "1993": "/home/deno" },
    env: { DENO_DIR: "/deno-dir/" },
    dirs: { "/deno-dir": 1993 },
    lock: { file: "deno.lock", command: ["deno", "install"] },
  },
};

const dockerfile = (runtime: RuntimeName) => path.join(EXAMPLE, `Dockerfile.${runtime}`);
const image = (runtime: RuntimeName): Image => readImage(fs.readFileSync(dockerfile(runtime), "utf8"));

// ---------------------------------------------------------------------------------------------
// What this machine must have to play the engine.

function works(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Why containers cannot run here, or undefined when they can. */
const noContainers: string | undefined = (() => {
  if (process.getuid?.() !== 0) return "namespaces, mounts and setpriv need root";
  for (const tool of ["unshare", "nsenter", "setpriv", "ip", "sysctl", "dpkg-query"]) {
    if (!works("sh", ["-c", `command -v ${tool}`])) return `${tool} is missing`;
  }
  if (!works("unshare", ["--pid", "--net", "--mount", "--fork", "--mount-proc", "true"])) return "cannot make PID, network and mount namespaces";
  return undefined;
})();

function unavailable(runtime: RuntimeName): string | undefined {
  if (noContainers) return noContainers;
  const base = Object.values(BASES).find((b) => b.runtime === runtime)!;
  return fs.existsSync(base.binary) ? undefined : `${base.binary} is not installed`;
}

// ---------------------------------------------------------------------------------------------
// The build.

interface Built {
  image: Image;
  base: Base;
  root: string;
  /** Folder of the stand-in runtime binaries, first on PATH. */
  bin: string;
  seconds: number;
}

/** An image path inside the stand-in root; ENV values that are absolute paths name image paths too. */
const at = (root: string, file: string) => path.join(root, file);
const mapEnv = (root: string, env: Record<string, string>) =>
  Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.startsWith("/") ? at(root, value) : value]));

/** Runs `command` with a deadline; rejects with its output when it fails. */
function sh(command: string[], options: { cwd: string; env: Record<string, string>; timeout?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command[0]!, command.slice(1), { ...options, timeout: options.timeout ?? 120_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command.join(" ")} failed (${error.message}):\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** .dockerignore's patterns as a test on context-relative paths (an ignored folder hides its contents). */
function dockerignore(context: string): (relative: string) => boolean {
  const file = path.join(context, ".dockerignore");
  const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").map((l) => l.trim()) : [];
  const patterns = lines.filter((l) => l && !l.startsWith("#")).map((pattern) => {
    if (pattern.startsWith("!")) throw new Error(`.dockerignore: exceptions (${pattern}) are not followed by this test`);
    const source = pattern.replace(/^\.?\//, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*/g, "\0").replace(/\*/g, "[^/]*")
      .replace(/\?/g, "[^/]").replace(/\0/g, ".*");
    return new RegExp(`^${source}$`);
  });
  return (relative) => {
    const parts = relative.split(path.sep);
    return parts.some((_, i) => patterns.some((p) => p.test(parts.slice(0, i + 1).join("/"))));
  };
}

/** COPY SRC... DEST from the build context, as root, modes kept. */
function copy(args: string, context: string, root: string, workdir: string): void {
  const words = args.split(/\s+/);
  if (words.some((w) => w.startsWith("--"))) throw new Error(`COPY ${args}: options are not followed by this test`);
  const dest = words.pop()!;
  const target = dest.startsWith("/") ? at(root, dest) : at(root, path.join(workdir, dest));
  const intoFolder = dest.endsWith("/") || dest === "." || words.length > 1;
  const ignored = dockerignore(context);
  for (const source of words) {
    const from = path.join(context, source);
    if (source !== "." && (!fs.existsSync(from) || ignored(source))) {
      throw new Error(`COPY failed: ${source} is not in the build context (${context})`);
    }
    const to = source === "." ? target : intoFolder ? path.join(target, path.basename(source)) : target;
    fs.mkdirSync(source === "." ? to : path.dirname(to), { recursive: true });
    fs.cpSync(from, to, { recursive: true, filter: (file) => !ignored(path.relative(context, file)) || file === context });
  }
}

/** Debian packages a RUN installs with apt-get, or undefined for any other RUN. */
function aptPackages(command: string): string[] | undefined {
  const m = /apt-get\s+(?:-\S+\s+)*install\s+([^&|;]+)/.exec(command);
  return m ? m[1]!.split(/\s+/).filter((w) => w && !w.startsWith("-")) : undefined;
}

const installed = (pkg: string) => {
  try {
    return execFileSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" }).includes("install ok installed");
  } catch {
    return false;
  }
};

/**
 * An apt-get RUN installs into this machine's system, which stands in for the image's: skipped when
 * the packages are there, run as written otherwise, with the package lists on a tmpfs so that its
 * `rm -rf /var/lib/apt/lists/*` cleans the image's lists, not this machine's.
 */
async function aptRun(command: string, env: Record<string, string>): Promise<string> {
  const packages = aptPackages(command)!;
  if (packages.every(installed)) return `${packages.join(", ")}: installed here already`;
  const script = `mount -t tmpfs tmpfs /var/lib/apt/lists && mkdir -p /var/lib/apt/lists/partial && ${command}`;
  return sh(["unshare", "--mount", "sh", "-c", script], { cwd: "/", env, timeout: 300_000 });
}

/** The build context as a user has it: the example, with the lockfile the user's install made. */
async function context(base: Base, dir: string, registry: string): Promise<string> {
  fs.cpSync(EXAMPLE, dir, { recursive: true });
  const denoDir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-lock-deno-"));
  try {
    const env = { PATH: `${path.dirname(process.execPath)}:${BIN}:${process.env.PATH}`, HOME: os.homedir(), NPM_CONFIG_REGISTRY: registry, DENO_DIR: denoDir, NO_COLOR: "1" };
    await sh(base.lock.command, { cwd: dir, env });
  } finally {
    fs.rmSync(denoDir, { recursive: true, force: true });
  }
  return dir;
}

/** Runs the Dockerfile's instructions into `root`. */
async function build(runtime: RuntimeName, dir: string, registry: string): Promise<Built> {
  const started = Date.now();
  const img = image(runtime);
  const base = BASES[img.from];
  if (!base) throw new Error(`Dockerfile.${runtime}: FROM ${img.from} is not a base image this test knows`);
  const root = path.join(dir, "root");
  const bin = path.join(dir, "bin");
  for (const folder of [root, bin]) fs.mkdirSync(folder, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  fs.symlinkSync(fs.realpathSync(base.binary), path.join(bin, base.runtime));
  fs.mkdirSync(at(root, "/tmp"), { mode: 0o1777 });
  fs.chmodSync(at(root, "/tmp"), 0o1777);
  for (const [folder, uid] of Object.entries(base.dirs)) {
    fs.mkdirSync(at(root, folder), { recursive: true, mode: 0o755 });
    fs.chownSync(at(root, folder), uid, uid);
  }
  const ctx = await context(base, path.join(dir, "context"), registry);

  // The build's environment: the base image's, the ENV so far, and the registry standing in for npm's.
  const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH}`, HOME: os.homedir(), NPM_CONFIG_REGISTRY: registry, NO_COLOR: "1", ...mapEnv(root, base.env) };
  let workdir = "/";
  for (const { keyword, args, line } of img.instructions) {
    try {
      if (keyword === "WORKDIR") {
        workdir = args.startsWith("/") ? args : path.join(workdir, args);
        fs.mkdirSync(at(root, workdir), { recursive: true });
      } else if (keyword === "ENV") {
        Object.assign(env, mapEnv(root, envPairs(args)));
      } else if (keyword === "COPY") {
        copy(args, ctx, root, workdir);
      } else if (keyword === "RUN") {
        if (aptPackages(args)) await aptRun(args, env);
        else await sh(["sh", "-c", args], { cwd: at(root, workdir), env });
      }
    } catch (error) {
      throw new Error(`Dockerfile.${runtime} line ${line}, ${keyword} ${args}:\n${(error as Error).message}`);
    }
  }
  return { image: img, base, root, bin, seconds: (Date.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// The container.

/**
 * unicorn in a PID namespace. The pids in its log are the namespace's, not this machine's: killAll must
 * not kill them. It kills PID 1 instead, which takes the whole namespace down (the kernel kills every
 * other process in it); unshare's --kill-child alone would not, since the change of user clears the
 * parent-death signal (setpriv --pdeathsig sets it again, for a test process that dies).
 */
class Container extends Server {
  override workerPids(): number[] {
    // Once unshare is reaped its pid may be another process's: ask only while it is ours.
    if (this.child.exitCode !== null || this.child.signalCode !== null) return [];
    try {
      return [this.pid1()];
    } catch {
      return []; // stopping: PID 1 has exited
    }
  }

  /** This machine's pid of the container's PID 1 (unshare's child). */
  pid1(): number {
    const children = fs.readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, "utf8").trim();
    // unshare forks PID 1 at once; an empty list means it has exited (or not yet forked).
    if (!children) throw new Error(`unshare has no child yet; log:\n${this.log}`);
    return Number(children.split(" ")[0]);
  }
}

/** Set up in the namespaces, then exec the container's command as its user, in a clean environment. */
const SETUP = [
  "set -e",
  // A new network namespace has a loopback interface only, and it is down.
  "ip link set lo up",
  // Network-namespace sysctls, as `docker run --sysctl` and compose's sysctls: set them.
  'for s in $CT_SYSCTLS; do sysctl -qw "$s"; done',
  // readOnlyRootFilesystem: the image's root, read-only; /tmp writable (the manifest's emptyDir).
  'mount --bind "$CT_ROOT" "$CT_ROOT"',
  'mount -o remount,bind,ro "$CT_ROOT"',
  'mount -t tmpfs -o mode=1777 tmpfs "$CT_ROOT/tmp"',
  'cd "$CT_WORKDIR"',
  'exec setpriv --reuid="$CT_UID" --regid="$CT_GID" --clear-groups --pdeathsig SIGKILL env -i "$@"',
].join("\n");

function ids(built: Built): { uid: string; gid: string } {
  const [uid = "", gid = uid] = (built.image.user ?? "0").split(":");
  return { uid, gid };
}

/** The container's environment: the base image's ENV, the Dockerfile's, and `docker run -e`. */
function containerEnv(built: Built, extra: Record<string, string> = {}): Record<string, string> {
  const { root, base, image: img } = built;
  return {
    PATH: `${built.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: at(root, base.homes[ids(built).uid] ?? "/"),
    // The container's own /tmp (a tmpfs here): this machine's /tmp is still mounted in the namespace.
    TMPDIR: at(root, "/tmp"),
    ...mapEnv(root, base.env),
    ...mapEnv(root, img.env),
    ...extra,
  };
}

function run(built: Built, options: { entrypoint?: string[]; cmd?: string[]; env?: Record<string, string>; sysctls?: string[] } = {}): Container {
  const entrypoint = options.entrypoint ?? built.image.entrypoint ?? [];
  const cmd = options.cmd ?? built.image.cmd ?? [];
  const env = Object.entries(containerEnv(built, options.env)).map(([k, v]) => `${k}=${v}`);
  const { uid, gid } = ids(built);
  return new Container("node", [], {
    // setpriv --pdeathsig: unshare dies with this test's process, and with it the container.
    command: ["setpriv", "--pdeathsig", "SIGKILL", "unshare", "--pid", "--net", "--mount", "--fork", "--mount-proc", "--kill-child",
      "sh", "-c", SETUP, "sh", ...env, ...entrypoint, ...cmd],
    cwd: built.root,
    env: {
      CT_ROOT: built.root,
      CT_WORKDIR: at(built.root, built.image.workdir),
      CT_UID: uid,
      CT_GID: gid,
      CT_SYSCTLS: (options.sysctls ?? []).join(" "),
    },
  });
}

/** Runs `command` in the container's namespaces (as `docker exec`), as its user unless `root`. */
function inside(
  built: Built,
  pid1: number,
  command: string[],
  options: { root?: boolean; env?: Record<string, string>; timeout?: number } = {},
): Promise<{ code: number | null; output: string; ms: number }> {
  const { uid, gid } = ids(built);
  const env = Object.entries(containerEnv(built, options.env)).map(([k, v]) => `${k}=${v}`);
  const as = options.root ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups"];
  // env -C, not nsenter --wd: nsenter opens that folder before it enters the mount namespace, which
  // would leave the command in this machine's writable view of the image's root.
  const args = ["--target", String(pid1), "--net", "--pid", "--mount", ...as, "env", "-i", "-C", at(built.root, built.image.workdir), ...env, ...command];
  const started = Date.now();
  return new Promise((resolve) => {
    execFile("nsenter", args, { timeout: options.timeout ?? 10_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}`, ms: Date.now() - started });
    });
  });
}

/** GETs `target` from inside the container, with this machine's Node (as root: it is our client). */
async function get(built: Built, pid1: number, target: string, count = 1): Promise<string> {
  const script = `for (let i = 0; i < ${count}; i++) { const r = await fetch("http://127.0.0.1:${built.image.env.PORT}${target}"); console.log(r.status, (await r.text()).trim()); }`;
  const { code, output } = await inside(built, pid1, [process.execPath, "--input-type=module", "-e", script], { root: true, timeout: 30_000 });
  if (code !== 0) throw new Error(`GET ${target} inside the container failed:\n${output}`);
  return output.trim();
}

/** Seconds from HEALTHCHECK's `--timeout=3s`. */
const seconds = (value: string | undefined, fallback: number) => (value ? Number(/^(\d+(?:\.\d+)?)s$/.exec(value)?.[1] ?? NaN) : fallback);

function healthcheck(built: Built, pid1: number) {
  const { command, options } = built.image.healthcheck!;
  // Docker allows it --timeout (3 s). On a test machine running three suites at once a runtime's start
  // alone can take longer, which says nothing of the image: the deadline here is the suites' own.
  return inside(built, pid1, command, { timeout: Math.max(seconds(options.timeout, 30) * 1000, WAIT_MS) });
}

interface Proc {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
  uid: number;
}

/** Every process in the PID namespace of `pid1`, seen from this machine. */
function processes(pid1: number): Proc[] {
  const ns = fs.readlinkSync(`/proc/${pid1}/ns/pid`);
  const found: Proc[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state = "", ppid = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      found.push({ pid: Number(entry), ppid: Number(ppid), state, comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), uid });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Polls `read` until `done` holds, or the deadline; returns the last reading either way. */
async function until<T>(read: () => T, done: (value: T) => boolean, timeout = 10_000): Promise<T> {
  const deadline = Date.now() + timeout;
  let value = read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = read();
  }
  return value;
}

/** TERM to PID 1, as `docker stop` sends it: resolves with the exit and how long it took. */
async function stop(container: Container, timeout = STOP_TIMEOUT_MS) {
  const started = Date.now();
  process.kill(container.pid1(), "SIGTERM");
  const exit = await container.exited(timeout);
  return { ...exit, ms: Date.now() - started };
}

// An app whose every request leaves an orphan: the shell exits at once, its background sleep is
// re-parented to PID 1, which must reap it when it ends.
const ORPHAN_APP = `import { spawn } from "node:child_process";
export default {
  fetch() {
    const child = spawn("sh", ["-c", "sleep 0.1 & exit 0"], { stdio: "ignore" });
    return new Promise((resolve) => child.on("exit", () => resolve(new Response("orphaned\\n"))));
  },
};
`;

// ---------------------------------------------------------------------------------------------

let registry: Registry | undefined;
let tarballDir = "";
const temps: string[] = [];

beforeAll(async () => {
  if (noContainers) return;
  tarballDir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-image-pack-"));
  // dist/ is built by `npm test` before the suites run; packing must not rebuild it under them.
  execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", tarballDir], { cwd: ROOT, stdio: "ignore" });
  registry = await serveRegistry(path.join(tarballDir, fs.readdirSync(tarballDir).find((f) => f.endsWith(".tgz"))!));
}, 60_000);

afterAll(async () => {
  await registry?.close();
  for (const dir of [tarballDir, ...temps]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(killAll);

describe.each(RUNTIMES)("Dockerfile.%s", (runtime) => {
  test("is an image of the app: non-root numeric USER, exec-form tini ENTRYPOINT and CMD, STOPSIGNAL, HEALTHCHECK on --health-path", () => {
    const img = image(runtime);
    const base = BASES[img.from];
    expect(base?.runtime, `FROM ${img.from}`).toBe(runtime);
    // Numeric, so Kubernetes' runAsNonRoot can verify it; not root.
    expect(img.user).toMatch(/^\d+:\d+$/);
    expect(Number(img.user!.split(":")[0])).toBeGreaterThan(0);
    expect(img.raw.entrypoint, "ENTRYPOINT in exec form").toMatch(/^\[/);
    expect(img.raw.cmd, "CMD in exec form").toMatch(/^\[/);
    // tini as PID 1 reaps orphans (the PID 1 test below), and passes TERM to unicorn.
    expect(img.entrypoint!.slice(0, 3)).toEqual(["tini", "--", runtime]);
    expect(img.stopSignal).toBe("SIGTERM");
    expect(img.expose).toEqual([img.env.PORT]);
    expect(img.env.PORT).toBe("8000");
    const healthPath = flag(img.cmd!, "--health-path");
    expect(healthPath).toBe("/healthz");
    // The check fetches the health path on the port unicorn binds ($PORT), from inside the container.
    const url = /http:\/\/127\.0\.0\.1:\$\{(process\.env\.PORT|Deno\.env\.get\('PORT'\))\}(\/[^`'"\s]*)/.exec(img.healthcheck!.command.join(" "));
    expect(url?.[2], img.healthcheck!.command.join(" ")).toBe(healthPath);
    // The health check is the runtime itself: the slim images have no curl or wget.
    expect(img.healthcheck!.command[0]).toBe(runtime);
    // The app's dependencies come from its lockfile, without dev dependencies.
    const runs = img.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
    const install = { node: /^npm ci --omit=dev\b/, bun: /^bun install --production --frozen-lockfile\b/, deno: /^deno install --frozen\b/ }[runtime];
    expect(runs.some((r) => install.test(r)), runs.join("\n")).toBe(true);
    expect(img.instructions.some((i) => i.keyword === "COPY" && i.args.includes(base!.lock.file))).toBe(true);
  });

  const reason = unavailable(runtime);
  if (reason) {
    test.skip(`built and run here: skipped, ${reason}`, () => {});
    return;
  }

  let built: Built;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `unicorn-image-${runtime}-`));
    temps.push(dir);
    built = await build(runtime, dir, registry!.url);
    // The orphan app of the PID 1 test, added to the image.
    fs.writeFileSync(at(built.root, path.join(built.image.workdir, "orphans.mjs")), ORPHAN_APP);
    console.info(`Dockerfile.${runtime}: built in ${built.seconds.toFixed(1)} s`);
  }, 240_000);

  // Bun and Deno workers serve SO_REUSEPORT sockets: the compose file and manifest set this sysctl.
  const sysctls = runtime === "node" ? [] : ["net.ipv4.tcp_migrate_req=1"];

  test("installs this checkout's unicorn-http from the lockfile, and copies the app without what .dockerignore excludes", () => {
    const app = at(built.root, built.image.workdir);
    const dist = `dist/${runtime}/main.mjs`;
    expect(fs.readFileSync(path.join(app, "node_modules/unicorn-http", dist), "utf8")).toBe(fs.readFileSync(path.join(ROOT, dist), "utf8"));
    expect(fs.existsSync(path.join(app, "app.ts"))).toBe(true);
    expect(fs.readdirSync(app).filter((f) => f.startsWith("Dockerfile") || f === ".dockerignore")).toEqual([]);
    expect(fs.statSync(path.join(app, "app.ts")).uid).toBe(0);
  });

  test("serves as its non-root user under tini as PID 1 on a read-only root; HEALTHCHECK passes, then fails during --shutdown-delay; TERM exits 0", async () => {
    // Long enough for the HEALTHCHECK to start and ask within it on a loaded machine.
    const delay = 5;
    const container = run(built, { env: { WEB_CONCURRENCY: "2", UNICORN_SHUTDOWN_DELAY: String(delay) }, sysctls });
    const url = await container.ready(2);
    expect(url).toBe(`http://0.0.0.0:${built.image.env.PORT}`);
    const pid1 = container.pid1();
    const procs = processes(pid1);
    expect(procs.find((p) => p.pid === pid1)?.comm).toBe("tini");
    // tini, the arbiter and two workers, every one as the image's user.
    expect(procs.length).toBeGreaterThanOrEqual(4);
    expect(new Set(procs.map((p) => p.uid))).toEqual(new Set([Number(ids(built).uid)]));
    expect(container.log).not.toMatch(/tcp_migrate_req/);
    // The root is read-only even to root; unicorn's control folder and socket went to the writable /tmp.
    const write = await inside(built, pid1, ["touch", "written"], { root: true });
    expect(write.output).toMatch(/Read-only file system/);
    expect(container.log).toContain(`Control socket: ${at(built.root, "/tmp")}/unicorn-${ids(built).uid}/`);

    expect(await get(built, pid1, "/hello")).toBe('200 {"hello":"/hello"}');
    const healthy = await healthcheck(built, pid1);
    expect(healthy.code, healthy.output).toBe(0);

    const started = Date.now();
    process.kill(pid1, "SIGTERM");
    await container.waitForCount(/Stopping in \d+ s \(--shutdown-delay\)/, 2);
    const stopping = await healthcheck(built, pid1);
    expect(stopping.code, `HEALTHCHECK while stopping:\n${stopping.output}`).toBe(1);
    expect(Date.now() - started, "the HEALTHCHECK ran within --shutdown-delay (so it saw the 503, not a closed port)").toBeLessThan(delay * 1000);
    const exit = await container.exited(STOP_TIMEOUT_MS);
    const ms = Date.now() - started;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(ms).toBeGreaterThanOrEqual(delay * 1000);
    expect(ms).toBeLessThan(STOP_TIMEOUT_MS);
    console.info(`${runtime}: HEALTHCHECK ${healthy.ms} ms; TERM to exit 0 in ${ms} ms (--shutdown-delay ${delay})`);
  });

  test("PID 1: unicorn alone leaves the app's orphans as zombies; under the image's tini none remain; TERM exits 0 either way", async () => {
    const cmd = [...built.image.cmd!.slice(0, -1), "orphans.mjs"];
    const entrypoint = built.image.entrypoint!;
    const count = async (container: Container) => {
      await container.ready();
      const pid1 = container.pid1();
      expect(await get(built, pid1, "/", ORPHANS)).toBe(Array(ORPHANS).fill("200 orphaned").join("\n"));
      // Once every orphan has ended (sleep 0.1), what is left of them is a zombie or nothing.
      const sleeping = (p: Proc) => p.comm === "sleep" && p.state !== "Z";
      await until(() => processes(pid1), (procs) => !procs.some(sleeping));
      return until(() => processes(pid1).filter((p) => p.state === "Z"), (zombies) => zombies.length === 0 || zombies.length === ORPHANS, 2_000);
    };

    const alone = run(built, { entrypoint: entrypoint.slice(2), cmd, sysctls });
    const zombies = await count(alone);
    expect(zombies.length).toBe(ORPHANS);
    expect(new Set(zombies.map((z) => z.ppid))).toEqual(new Set([alone.pid1()]));
    const aloneExit = await stop(alone);
    expect(aloneExit).toMatchObject({ code: 0, signal: null });

    const underTini = run(built, { entrypoint, cmd, sysctls });
    expect((await count(underTini)).length).toBe(0);
    const tiniExit = await stop(underTini);
    expect(tiniExit).toMatchObject({ code: 0, signal: null });
    console.info(`${runtime}: ${ORPHANS} orphans: ${zombies.length} zombies with unicorn as PID 1, 0 under tini; ` +
      `TERM to exit 0 in ${aloneExit.ms} ms (unicorn as PID 1), ${tiniExit.ms} ms (tini)`);
  });
});
