/**
 * What the arbiter hands a new worker: its {@linkcode WorkerSpec} (the settings it needs, as JSON in
 * its environment), the environment itself, the listeners' descriptors, where its output goes, and
 * the user and group it runs as.
 */
import type { Config } from "../config/settings.ts";
import type { HttpSettings } from "../http/types.ts";
import { WORKER_SPEC_ENV, type WorkerSpec } from "../messages.ts";
import type { Runtime, SpawnSpec } from "../runtime.ts";
import type { OpenListeners } from "./listeners.ts";
import type { WorkerIds } from "./privileges.ts";
import { INHERITANCE_ENV } from "./upgrade.ts";

/** The arbiter's environment, less the variables that handed it sockets (a new arbiter's too, on USR2). */
export function arbiterEnv(runtime: Pick<Runtime, "env">): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(runtime.env())) if (value !== undefined) env[key] = value;
  for (const key of INHERITANCE_ENV) delete env[key];
  return env;
}

/** The workers' environment: the arbiter's, with `-e KEY=VALUE` applied. */
export function workerEnv(runtime: Pick<Runtime, "env">, config: Pick<Config, "env">): Record<string, string> {
  const env = arbiterEnv(runtime);
  for (const pair of config.env) {
    const eq = pair.indexOf("=");
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** What one worker is spawned from, besides the runtime. */
export interface WorkerLaunch {
  readonly id: number;
  readonly config: Config;
  readonly configFile: string | undefined;
  /** The arbiter's control socket. */
  readonly control: string;
  readonly listeners: OpenListeners;
  readonly http: HttpSettings;
  /** The loader an earlier worker needed (Node: "tsx"). */
  readonly loader: string | undefined;
  /** From {@linkcode workerEnv}. */
  readonly env: Readonly<Record<string, string>>;
  readonly ids: WorkerIds;
}

type SpawnRuntime = Pick<Runtime, "pid" | "cwd" | "resolvePath">;

/** The worker's settings; `random` draws the --max-requests jitter. */
export function workerSpec(runtime: SpawnRuntime, launch: WorkerLaunch, random: () => number = Math.random): WorkerSpec {
  const { config } = launch;
  const app = config.app;
  const jitter = config.maxRequestsJitter ? Math.floor(random() * (config.maxRequestsJitter + 1)) : 0;
  return {
    id: launch.id,
    arbiterPid: runtime.pid,
    control: launch.control,
    app: typeof app === "string" ? app : null,
    configFile: launch.configFile ?? null,
    cwd: runtime.cwd(),
    listeners: launch.listeners.serve,
    backlog: config.backlog,
    timeout: config.timeout,
    maxRequests: config.maxRequests ? config.maxRequests + jitter : 0,
    requestTimeout: config.requestTimeout,
    gracefulTimeout: config.gracefulTimeout,
    logLevel: config.logLevel,
    errorLog: config.errorLog,
    accessLog: config.accessLog ?? null,
    accessLogFormat: config.accessLogFormat,
    healthPath: config.healthPath,
    procName: config.procName,
    http: launch.http,
    ...(launch.loader ? { loader: launch.loader } : {}),
  };
}

/** How to spawn the worker: `spec` in its environment, the bound listeners as fds 3, 4, ... */
export function spawnSpec(runtime: SpawnRuntime, launch: WorkerLaunch, spec: WorkerSpec): SpawnSpec {
  const { config } = launch;
  return {
    env: { ...launch.env, [WORKER_SPEC_ENV]: JSON.stringify(spec) },
    fds: launch.listeners.bound.map((l) => l.fd),
    output: config.captureOutput && config.errorLog !== "-" ? runtime.resolvePath(runtime.cwd(), config.errorLog) : undefined,
    uid: launch.ids.uid,
    gid: launch.ids.gid,
  };
}
