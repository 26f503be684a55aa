/**
 * Server hooks: functions in the config file, called where Gunicorn calls their
 * counterparts. Async hooks are awaited. A hook that throws is logged and the
 * server goes on, except `onStarting` and `whenReady` (the arbiter does not
 * start) and `postFork` and `postWorkerInit` (the worker fails to boot, exit 3).
 */
import { stackOf } from "../errors.ts";
import type { Logger } from "../log/logger.ts";

/** What an arbiter hook sees of the arbiter. */
export interface ServerInfo {
  readonly pid: number;
  /** The number of workers the arbiter keeps. */
  readonly numWorkers: number;
  /** Live workers. */
  readonly workers: readonly WorkerInfo[];
  readonly log: Logger;
}

/** What a hook sees of one worker: in the arbiter, its handle; in the worker, itself. */
export interface WorkerInfo {
  /** Spawn number, counting from 1: a larger id is a younger worker. */
  readonly id: number;
  /** The pid; undefined in `preFork`, before the process exists. */
  readonly pid: number | undefined;
  /** Only inside a worker: its error log. */
  readonly log?: Logger;
}

type Result = void | Promise<void>;

/** The hooks a config file may set. */
export interface Hooks {
  onStarting?: (server: ServerInfo) => Result;
  whenReady?: (server: ServerInfo) => Result;
  onReload?: (server: ServerInfo) => Result;
  preFork?: (server: ServerInfo, worker: WorkerInfo) => Result;
  postFork?: (worker: WorkerInfo) => Result;
  postWorkerInit?: (worker: WorkerInfo) => Result;
  workerInt?: (worker: WorkerInfo) => Result;
  workerAbort?: (worker: WorkerInfo) => Result;
  preRequest?: (worker: WorkerInfo, request: Request) => Result;
  postRequest?: (worker: WorkerInfo, request: Request, response: Response) => Result;
  childExit?: (server: ServerInfo, worker: WorkerInfo) => Result;
  workerExit?: (worker: WorkerInfo) => Result;
  nworkersChanged?: (server: ServerInfo, newValue: number, oldValue: number | undefined) => Result;
  onExit?: (server: ServerInfo) => Result;
}

/** The names of the hooks, in the order they fire in a server's life. */
export const HOOK_NAMES: readonly (keyof Hooks)[] = [
  "onStarting",
  "whenReady",
  "onReload",
  "preFork",
  "postFork",
  "postWorkerInit",
  "workerInt",
  "workerAbort",
  "preRequest",
  "postRequest",
  "childExit",
  "workerExit",
  "nworkersChanged",
  "onExit",
];

/** Calls a hook if set; logs and swallows what it throws. */
export async function callHook<K extends keyof Hooks>(
  hooks: Hooks,
  name: K,
  log: Logger,
  ...args: Parameters<NonNullable<Hooks[K]>>
): Promise<void> {
  const hook = hooks[name] as ((...a: unknown[]) => Result) | undefined;
  if (!hook) return;
  try {
    await hook(...args);
  } catch (error) {
    log.error(`The "${name}" hook failed: ${stackOf(error)}`);
  }
}

/** Calls a hook if set and lets what it throws through, for the hooks that stop a start. */
export async function callHookStrict<K extends keyof Hooks>(
  hooks: Hooks,
  name: K,
  ...args: Parameters<NonNullable<Hooks[K]>>
): Promise<void> {
  const hook = hooks[name] as ((...a: unknown[]) => Result) | undefined;
  if (hook) await hook(...args);
}
