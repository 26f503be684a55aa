/**
 * The arbiter: binds, spawns, watches, reaps, kills and respawns workers. It
 * never serves a request and never loads the app.
 *
 * Signal handlers only enqueue. One loop takes signals off the queue, runs one
 * handler per signal, then does the periodic duties: `reapWorkers`,
 * `murderWorkers`, `manageWorkers`.
 */
import { formatAddress } from "../config/bind.ts";
import { callHook, callHookStrict, type ServerInfo } from "../config/hooks.ts";
import type { Config } from "../config/settings.ts";
import { ExitCode, messageOf, stackOf, UnicornError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { WORKER_SPEC_ENV, type Message, type WorkerSpec } from "../protocol.ts";
import type { Channel, ControlServer, Runtime, SignalName } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { openListeners, type OpenListeners } from "./listeners.ts";
import { parseAppSpec } from "../worker/app-loader.ts";
import { WorkerHandle } from "./worker-handle.ts";

/** The signals the arbiter handles; anything else keeps its default action. */
export const ARBITER_SIGNALS: readonly SignalName[] = [
  "SIGTERM",
  "SIGINT",
  "SIGQUIT",
  "SIGHUP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
];

/** Linux >= 5.14 moves connections queued on a closing SO_REUSEPORT socket to its siblings when this is 1. */
const TCP_MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";

/** How long a quick stop (INT, QUIT) waits before SIGKILL, in seconds. */
const QUICK_STOP_SECONDS = 2;
/** How often the loop runs when nothing wakes it, in ms. */
const TICK_MS = 1000;

type Event = { kind: "signal"; signal: SignalName } | { kind: "exit"; pid: number; code: number | null; signal: string | null };

export class Arbiter {
  readonly runtime: Runtime;
  readonly config: Config;
  readonly log: Logger;
  /** Live workers by pid. */
  readonly workers: Map<number, WorkerHandle> = new Map();
  /** The number of workers the arbiter keeps serving. */
  numWorkers: number;
  listeners: OpenListeners | undefined;

  #queue: Event[] = [];
  #wake: (() => void) | undefined;
  #age = 0;
  #stop: { graceful: boolean; deadline: number; killed: boolean } | undefined;
  #exitCode: number | undefined;
  #controlDir = "";
  #control: ControlServer | undefined;
  #env: Record<string, string> = {};
  readonly #configFile: string | undefined;
  /** What arbiter hooks are given. */
  readonly server: ServerInfo;

  constructor(runtime: Runtime, config: Config, log: Logger, options: { configFile?: string } = {}) {
    this.runtime = runtime;
    this.config = config;
    this.log = log;
    this.numWorkers = config.workers;
    this.#configFile = options.configFile;
    const arbiter = this;
    this.server = {
      pid: runtime.pid,
      log,
      get numWorkers() {
        return arbiter.numWorkers;
      },
      get workers() {
        return [...arbiter.workers.values()].map((w) => ({ id: w.id, pid: w.pid }));
      },
    };
  }

  /** The code to exit with, once the arbiter has decided to stop. */
  get exitCode(): number | undefined {
    return this.#exitCode;
  }

  /** Binds, starts the control socket, installs signals and logs the banner. */
  async start(): Promise<void> {
    const { runtime, log } = this;
    log.info(`Starting unicorn ${VERSION} on ${runtime.name} ${runtime.version}`);
    await this.#startHook("onStarting");
    this.listeners = await openListeners(runtime, this.config);
    const { strategy, serve } = this.listeners;
    log.info(`Listener strategy: ${strategy} (${runtime.capabilities.engine[strategy]})`);
    if (strategy === "reuse-port" && runtime.readTextFile(TCP_MIGRATE_REQ)?.trim() !== "1") {
      log.warning("With reuse-port, connections queued on a worker's socket are reset when that worker stops " +
        `(restart, recycle, scale down); set ${TCP_MIGRATE_REQ.slice(10).replaceAll("/", ".")}=1 to migrate them`);
    }
    // Tests read the bound address from this line.
    for (const listener of serve) log.info(`Listening at: ${formatAddress(listener.address)} (${runtime.pid})`);
    this.#controlDir = runtime.makeTempDir("unicorn-");
    try {
      this.#control = await runtime.listenControl(`${this.#controlDir}/control.sock`, (ch) => this.#adopt(ch));
    } catch (error) {
      throw new UnicornError(`Cannot start the control socket: ${messageOf(error)}`, ExitCode.INTERNAL);
    }
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(runtime.env())) if (value !== undefined) env[key] = value;
    for (const pair of this.config.env) {
      const eq = pair.indexOf("=");
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    this.#env = env;
    for (const signal of ARBITER_SIGNALS) runtime.onSignal(signal, () => this.#enqueue({ kind: "signal", signal }));
    await this.#startHook("whenReady");
    await callHook(this.config, "nworkersChanged", log, this.server, this.numWorkers, undefined);
  }

  async #startHook(name: "onStarting" | "whenReady"): Promise<void> {
    try {
      await callHookStrict(this.config, name, this.server);
    } catch (error) {
      throw new UnicornError(`Cannot start: the "${name}" hook threw: ${stackOf(error)}`, ExitCode.INTERNAL);
    }
  }

  /** Runs until stopped; resolves with the exit code. */
  async run(): Promise<number> {
    try {
      await this.start();
    } catch (error) {
      this.#cleanup();
      throw error;
    }
    await this.manageWorkers();
    while (this.#exitCode === undefined) {
      await this.#sleep(this.#stop ? 100 : TICK_MS);
      await this.tick();
    }
    await callHook(this.config, "onExit", this.log, this.server);
    this.#cleanup();
    return this.#exitCode;
  }

  /** One pass of the loop: dispatch signals, then the periodic duties. */
  async tick(): Promise<void> {
    const events = this.#queue.splice(0);
    for (const event of events) {
      if (event.kind === "signal") await this.#dispatch(event.signal);
      else await this.reapWorker(event.pid, event.code, event.signal);
    }
    if (this.#exitCode !== undefined) return;
    if (this.#stop) return this.#progressStop();
    this.murderWorkers();
    await this.manageWorkers();
  }

  #dispatch(signal: SignalName): void | Promise<void> {
    switch (signal) {
      case "SIGTERM":
        return this.handleTerm();
      case "SIGINT":
      case "SIGQUIT":
        return this.handleQuit(signal);
      case "SIGTTIN":
        return this.handleTtin();
      case "SIGTTOU":
        return this.handleTtou();
      default:
        this.log.info(`Ignoring ${signal}: not supported yet`);
    }
  }

  handleTerm(): void {
    if (this.#stop) return;
    this.log.info("Handling signal: term; stopping gracefully");
    this.#beginStop(true, this.config.gracefulTimeout);
  }

  handleQuit(signal: SignalName): void {
    if (this.#stop && !this.#stop.graceful) return;
    this.log.info(`Handling signal: ${signal.slice(3).toLowerCase()}; stopping at once`);
    this.#beginStop(false, Math.min(QUICK_STOP_SECONDS, this.config.gracefulTimeout || QUICK_STOP_SECONDS));
  }

  handleTtin(): Promise<void> {
    this.log.info(`Handling signal: ttin; workers: ${this.numWorkers + 1}`);
    return this.setNumWorkers(this.numWorkers + 1);
  }

  handleTtou(): Promise<void> | void {
    if (this.numWorkers <= 1) {
      this.log.info("Handling signal: ttou; already at 1 worker");
      return;
    }
    this.log.info(`Handling signal: ttou; workers: ${this.numWorkers - 1}`);
    return this.setNumWorkers(this.numWorkers - 1);
  }

  /** Changes the number of workers to keep; `manageWorkers` spawns or retires to match. */
  async setNumWorkers(value: number): Promise<void> {
    const old = this.numWorkers;
    this.numWorkers = value;
    await callHook(this.config, "nworkersChanged", this.log, this.server, value, old);
  }

  /** Stops the workers and leaves with `code`, as after a worker failed to boot. */
  halt(reason: string, code: number): void {
    if (this.#exitCode !== undefined) return;
    this.log.error(`Shutting down: ${reason}`);
    this.#haltCode = code;
    this.#beginStop(false, QUICK_STOP_SECONDS);
  }
  #haltCode: number | undefined;

  #beginStop(graceful: boolean, seconds: number): void {
    this.#stop = { graceful, deadline: this.runtime.monotonic() + seconds, killed: false };
    for (const listener of this.listeners?.bound ?? []) listener.close();
    for (const worker of this.workers.values()) {
      worker.state = "retiring";
      worker.child.kill(graceful ? "SIGTERM" : "SIGQUIT");
    }
    this.#progressStop();
  }

  #progressStop(): void {
    const stop = this.#stop!;
    if (this.workers.size === 0) {
      this.#exitCode = this.#haltCode ?? ExitCode.OK;
      return;
    }
    if (!stop.killed && this.runtime.monotonic() >= stop.deadline) {
      stop.killed = true;
      for (const worker of this.workers.values()) {
        this.log.warning(`Worker (pid:${worker.pid}) did not stop in time; sending SIGKILL`);
        worker.killedAt = this.runtime.monotonic();
        worker.child.kill("SIGKILL");
      }
    }
  }

  /** Forgets an exited worker, logs how it ended, and halts on a boot or load failure. */
  async reapWorker(pid: number, code: number | null, signal: string | null): Promise<void> {
    const worker = this.workers.get(pid);
    if (!worker) return;
    this.workers.delete(pid);
    const expected = worker.state === "retiring" || this.#stop !== undefined;
    if (signal !== null) {
      const line = `Worker (pid:${pid}) was sent ${signal}!`;
      if (signal === "SIGKILL" && worker.killedAt === undefined) this.log.error(`${line} Perhaps out of memory?`);
      else if (expected || signal === "SIGTERM") this.log.info(line);
      else this.log.warning(line);
    } else if (code !== 0) {
      this.log.error(`Worker (pid:${pid}) exited with code ${code}`);
    } else {
      this.log.info(`Worker (pid:${pid}) exited`);
    }
    await callHook(this.config, "childExit", this.log, this.server, { id: worker.id, pid });
    if (code === ExitCode.WORKER_BOOT_ERROR) this.halt("a worker failed to boot", ExitCode.WORKER_BOOT_ERROR);
    else if (code === ExitCode.APP_LOAD_ERROR) this.halt("the app failed to load", ExitCode.APP_LOAD_ERROR);
  }

  /** Kills workers whose event loop has been silent longer than `--timeout`. */
  murderWorkers(): void {
    const timeout = this.config.timeout;
    if (timeout <= 0) return;
    const now = this.runtime.monotonic();
    for (const worker of this.workers.values()) {
      if (worker.killedAt !== undefined || now - worker.lastHeartbeat <= timeout) continue;
      this.log.critical(`WORKER TIMEOUT (pid:${worker.pid})`);
      worker.killedAt = now;
      worker.state = "retiring";
      worker.child.kill("SIGKILL");
    }
  }

  /** Spawns or retires workers to reach `numWorkers`. */
  async manageWorkers(): Promise<void> {
    const active = [...this.workers.values()].filter((w) => w.state !== "retiring");
    for (let i = active.length; i < this.numWorkers; i++) await this.spawnWorker();
    if (active.length > this.numWorkers) {
      const surplus = active.sort((a, b) => a.id - b.id).slice(0, active.length - this.numWorkers);
      for (const worker of surplus) this.retireWorker(worker);
    }
  }

  /** Asks a worker to finish its requests and exit. */
  retireWorker(worker: WorkerHandle): void {
    worker.state = "retiring";
    worker.child.kill("SIGTERM");
  }

  async spawnWorker(): Promise<WorkerHandle | undefined> {
    const listeners = this.listeners!;
    const id = ++this.#age;
    const app = this.config.app;
    const spec: WorkerSpec = {
      id,
      control: `${this.#controlDir}/control.sock`,
      app: typeof app === "string" ? app : null,
      configFile: this.#configFile ?? null,
      cwd: this.runtime.cwd(),
      listeners: listeners.serve,
      backlog: this.config.backlog,
      timeout: this.config.timeout,
      gracefulTimeout: this.config.gracefulTimeout,
      logLevel: this.config.logLevel,
    };
    await callHook(this.config, "preFork", this.log, this.server, { id, pid: undefined });
    let child;
    try {
      child = this.runtime.spawnWorker({
        modules: [spec.app === null ? undefined : parseAppSpec(spec.app).path, this.#configFile]
          .filter((m): m is string => m !== undefined),
        env: { ...this.#env, [WORKER_SPEC_ENV]: JSON.stringify(spec) },
        fds: listeners.bound.map((l) => l.fd),
      });
    } catch (error) {
      this.log.error(`Cannot spawn a worker: ${messageOf(error)}`);
      return undefined;
    }
    const worker = new WorkerHandle(id, child, this.runtime.monotonic());
    this.workers.set(child.pid, worker);
    child.onExit((code, signal) => this.#enqueue({ kind: "exit", pid: child.pid, code, signal }));
    // Tests wait for this line.
    this.log.info(`Booting worker with pid: ${child.pid}`);
    return worker;
  }

  #adopt(channel: Channel): void {
    let worker: WorkerHandle | undefined;
    channel.onMessage((message: Message) => {
      if (message.type === "hello") {
        worker = this.workers.get(message.pid);
        if (!worker) return channel.close();
        worker.channel = channel;
        return;
      }
      if (!worker) return;
      const now = this.runtime.monotonic();
      switch (message.type) {
        case "booted":
          worker.bootedAt = now;
          worker.lastHeartbeat = now;
          if (worker.state === "booting") worker.state = "serving";
          // Tests wait for this line.
          this.log.info(`Worker (pid:${worker.pid}) is serving, booted in ${Math.round((now - worker.spawnedAt) * 1000)} ms`);
          break;
        case "heartbeat":
          worker.lastHeartbeat = now;
          worker.requests = message.requests;
          break;
        case "draining":
          worker.state = "retiring";
          break;
      }
    });
  }

  #enqueue(event: Event): void {
    this.#queue.push(event);
    this.#wake?.();
  }

  #sleep(ms: number): Promise<void> {
    if (this.#queue.length) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  #cleanup(): void {
    for (const listener of this.listeners?.bound ?? []) listener.close();
    void this.#control?.close();
    if (this.#controlDir) this.runtime.removePath(this.#controlDir);
  }
}
