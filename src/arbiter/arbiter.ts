/**
 * The arbiter: binds, spawns, watches, reaps, kills and respawns workers. It
 * never serves a request and never loads the app.
 *
 * Signal handlers only enqueue. One loop takes signals off the queue, runs one
 * handler per signal, then does the periodic duties: `murderWorkers`,
 * `manageWorkers`.
 */
import { formatAddress } from "../config/bind.ts";
import { callHook, callHookStrict, type ServerInfo } from "../config/hooks.ts";
import type { Config } from "../config/settings.ts";
import { ExitCode, messageOf, stackOf, UnicornError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { resolveHttpSettings } from "./http-config.ts";
import type { Engine, HttpSettings } from "../http/types.ts";
import { makeControlDir } from "./control-dir.ts";
import { Launcher } from "./launcher.ts";
import { Readiness } from "./readiness.ts";
import { SIGNALS } from "./signals.ts";
import { Reloads } from "./reload.ts";
import type { Message } from "../messages.ts";
import type { Channel, ControlServer, Runtime, SignalName } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { CrashBackoff } from "./backoff.ts";
import { BootFailures, haltingExit } from "./boot-failures.ts";
import { openListeners, type OpenListeners } from "./listeners.ts";
import { writePidfile } from "./pidfile.ts";
import { resolveWorkerIds, type WorkerIds } from "./privileges.ts";
import { watchSourceFiles } from "./source-watch.ts";
import { arbiterEnv, spawnSpec, workerEnv, workerSpec, type WorkerLaunch } from "./spawn-spec.ts";
import { Upgrade } from "./upgrade.ts";
import { type ReplaceReason, WorkerHandle } from "./worker-handle.ts";
import { ControlSocket } from "./control-socket.ts";
import { type ControlState, controlOf } from "./controller.ts";
import { ServerMetrics, type WorkerView } from "./metrics.ts";
import { type Observers, startObservers } from "./observers.ts";
import { controlFolder, controlSocketPath, type ReloadOutcome } from "../ctl/protocol.ts";

/** The signals the arbiter handles (src/arbiter/signals.ts); anything else keeps its default action. */
export const ARBITER_SIGNALS: readonly SignalName[] = SIGNALS.map((s) => s.signal);

/** Linux >= 5.14 moves connections queued on a closing SO_REUSEPORT socket to its siblings when this is 1. */
const TCP_MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";
/** How long a quick stop (INT, QUIT) waits before SIGKILL, in seconds. */
const QUICK_STOP_SECONDS = 2;
/** How long a worker sent SIGABRT for a missed heartbeat has before SIGKILL, in seconds. */
const ABORT_GRACE_SECONDS = 1;
/** How much longer than --graceful-timeout a retiring worker may take before SIGKILL, in seconds. */
const RETIRE_MARGIN_SECONDS = 5;
/** How often the loop runs when nothing wakes it, in ms. */
const TICK_MS = 1000;
/** How long the arbiter waits for a failing worker's last words (its "failed" message), in ms. */
const LAST_WORDS_MS = 1000;

type Event =
  | { kind: "wake" }
  | { kind: "task"; task: () => Promise<void> | void }
  | { kind: "source"; file: string }
  | { kind: "signal"; signal: SignalName }
  | { kind: "exit"; pid: number; code: number | null; signal: string | null };

/** What the arbiter needs from the CLI besides the config. */
export interface ArbiterOptions {
  configFile?: string;
  /** Where each setting's value came from (`unicorn ctl config`). */
  sources?: Record<keyof Config, string>;
  /** Reads the configuration again, for HUP. */
  reloadConfig?: () => Promise<{ config: Config; configFile: string | undefined; sources?: Record<keyof Config, string> }>;
  /** Reopens the log files, for USR1. */
  reopenLogs?: () => void;
}

export class Arbiter {
  readonly runtime: Runtime;
  config: Config;
  readonly log: Logger;
  /** Live workers by pid. */
  readonly workers: Map<number, WorkerHandle> = new Map();
  /** The number of workers the arbiter keeps serving. */
  numWorkers: number;
  listeners: OpenListeners | undefined;
  /** What arbiter hooks are given. */
  readonly server: ServerInfo;

  #queue: Event[] = [];
  #wake: (() => void) | undefined;
  #age = 0;
  /** HUP's state: the generation new workers belong to, the reload under way, the ones given up on. */
  readonly #reloads = new Reloads<{ config: Config; http: HttpSettings }>();
  /** The HTTP settings of the current config, resolved (and checked) once per config generation. */
  #http: HttpSettings | undefined;
  #lastMurder = 0;
  #stop: { graceful: boolean; deadline: number; killed: boolean } | undefined;
  #haltCode: number | undefined;
  #exitCode: number | undefined;
  #controlDir = "";
  #control: ControlServer | undefined;
  #env: Record<string, string> = {};
  #configFile: string | undefined;
  #removePidfile: (() => void) | undefined;
  #stopWatching: (() => void) | undefined;
  readonly #upgrade: Upgrade;
  #pidfile: string | undefined;
  readonly #readiness: Readiness;
  #ids: WorkerIds = {};
  readonly #options: ArbiterOptions;
  readonly #backoff = new CrashBackoff();
  /** Workers that could not boot: which exits halt, the count in a row, the reasons said. */
  readonly #bootFailures = new BootFailures();
  /** The loader workers needed for the app (Node: "tsx"), passed to the next ones, and the last one logged. */
  #loader: string | undefined;
  #loaderLogged: string | undefined;
  /** What the app was last said to be, and by which engine served. */
  #appLogged: string | undefined;
  /** The package manager that started this arbiter (npx, npm start) and does not pass signals on. */
  #launcher: Launcher | undefined;
  /** Requests, restarts and reloads, for `unicorn ctl`, Prometheus and StatsD. */
  readonly #metrics = new ServerMetrics();
  #sources: Record<keyof Config, string> | undefined;
  #startedAt = 0;
  #ctl: ControlSocket | undefined;
  #observers: Observers | undefined;
  /** `unicorn ctl reload` callers, told when the reload completes or fails. */
  #reloadWaiters: Array<(outcome: ReloadOutcome) => void> = [];

  constructor(runtime: Runtime, config: Config, log: Logger, options: ArbiterOptions = {}) {
    this.runtime = runtime;
    this.config = config;
    this.log = log;
    this.numWorkers = config.workers;
    this.#options = options;
    this.#configFile = options.configFile;
    this.#sources = options.sources;
    this.#upgrade = new Upgrade(runtime, log);
    this.#readiness = new Readiness((fields, onError) => runtime.notify(fields, onError), log);
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
    if (this.config.umask !== undefined) runtime.setUmask(this.config.umask);
    this.#ids = resolveWorkerIds(runtime, this.config.user, this.config.group);
    const http = resolveHttpSettings(runtime, this.config);
    this.#http = http;
    const inherited = this.#upgrade.inherited();
    if (this.config.pidfile) {
      // A new arbiter (USR2) writes FILE.2 and takes FILE when the old one is gone, as Gunicorn does.
      this.#pidfile = this.#upgrade.predecessor ? `${this.config.pidfile}.2` : this.config.pidfile;
      this.#removePidfile = writePidfile(runtime, this.#pidfile);
    }
    await this.#startHook("onStarting");
    this.listeners = await openListeners(runtime, this.config, inherited);
    if (inherited) log.info(`Using the listeners inherited from ${inherited.from}`);
    const { strategy, serve } = this.listeners;
    log.info(`Listener strategy: ${strategy}; engine: ${runtime.capabilities.engines[http.engine]}`);
    if (strategy === "reuse-port" && runtime.readTextFile(TCP_MIGRATE_REQ)?.trim() !== "1") {
      log.warning("With reuse-port, connections queued on a worker's socket are reset when that worker stops " +
        "(reload, recycle, scale down); set net.ipv4.tcp_migrate_req=1 to migrate them");
    }
    // Tests read the bound address from this line.
    for (const listener of serve) log.info(`Listening at: ${formatAddress(listener.address, http.tls ? "https" : "http")} (${runtime.pid})`);
    this.#controlDir = makeControlDir(runtime, log);
    try {
      this.#control = await runtime.listenControl(`${this.#controlDir}/control.sock`, (ch) => this.#adopt(ch));
    } catch (error) {
      throw new UnicornError(`Cannot start the control socket: ${messageOf(error)}`, ExitCode.INTERNAL);
    }
    this.#giveToWorkers(this.#controlDir, `${this.#controlDir}/control.sock`);
    this.#startedAt = runtime.monotonic();
    if (this.config.procName && !runtime.setTitle(`unicorn: arbiter [${this.config.procName}]`)) {
      log.info(`--name: ${runtime.name} cannot set the process title`);
    }
    if (!this.config.noControlSocket) {
      // Named after the address bound (port 0 replaced by the port chosen), unless --name says otherwise.
      const path = controlSocketPath(runtime, { ...this.config, bind: serve.map((l) => l.address) });
      const ctl = new ControlSocket(runtime, log, path, controlOf(this));
      try {
        await ctl.open(this.config.controlSocketMode, this.config.controlSocket ? undefined : controlFolder(runtime),
          this.#upgrade.predecessor !== undefined);
        this.#ctl = ctl;
      } catch (error) {
        // A socket asked for by path or name must be there; the default one is a convenience.
        if (this.config.controlSocket !== undefined || this.config.procName !== undefined) throw error;
        log.warning(`${messageOf(error)}; serving without it: unicorn ctl cannot reach this server`);
      }
    }
    this.#observers = await startObservers(runtime, this.config, log, {
      metrics: () => this.metricsText(),
      statsd: () => ({ total: this.#metrics.total(this.workerViews()), workers: this.workers.size }),
    });
    if (this.#ids.uid !== undefined || this.#ids.gid !== undefined) {
      log.info(`Workers run as uid ${this.#ids.uid ?? "(unchanged)"}, gid ${this.#ids.gid ?? "(unchanged)"}`);
    }
    this.#env = workerEnv(runtime, this.config);
    for (const signal of ARBITER_SIGNALS) runtime.onSignal(signal, () => this.#enqueue({ kind: "signal", signal }));
    this.#launcher = new Launcher(runtime, log, this.#upgrade.predecessor !== undefined);
    if (this.config.reload) {
      this.#stopWatching = watchSourceFiles(runtime, this.config, log, (file) => this.#enqueue({ kind: "source", file }));
    }
    await this.#startHook("whenReady");
    await callHook(this.config, "nworkersChanged", log, this.server, this.numWorkers, undefined);
  }

  /** The launcher is gone (it was sent TERM, or killed): stop as on TERM rather than serve on, orphaned. */
  #checkLauncher(): void {
    const gone = this.#launcher?.gone();
    if (!gone) return;
    this.log.info(`The ${gone.name} process that started unicorn (pid:${gone.pid}) exited`);
    this.handleTerm();
  }

  async #sourceChanged(file: string): Promise<void> {
    if (this.#stop) return;
    this.log.info(`Source changed: ${file}; reloading the workers`);
    await this.handleHup();
  }

  /** Workers that drop privileges must still reach the control socket and write the error log. */
  #giveToWorkers(...paths: string[]): void {
    const { uid, gid } = this.#ids;
    if (uid === undefined && gid === undefined) return;
    if (this.config.errorLog !== "-") paths.push(this.config.errorLog);
    if (this.config.accessLog && this.config.accessLog !== "-") paths.push(this.config.accessLog);
    for (const path of paths) {
      try {
        this.runtime.chown(path, uid ?? -1, gid ?? -1);
      } catch (error) {
        throw new UnicornError(`Cannot run workers as "${this.config.user ?? this.config.group}": ` +
          `cannot give "${path}" to uid ${uid ?? "-"}, gid ${gid ?? "-"} (${messageOf(error)}); ` +
          "start unicorn as root to use --user or --group", ExitCode.USAGE);
      }
    }
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
    try {
      await this.manageWorkers();
      while (this.#exitCode === undefined) {
        const backoff = Math.max(0, (this.#backoff.until - this.runtime.monotonic()) * 1000);
        await this.#sleep(this.#stop ? 100 : Math.min(TICK_MS, backoff || TICK_MS));
        await this.tick();
      }
    } catch (error) {
      // A bug or a failure nothing planned for: never leave workers, a pidfile or a control folder behind.
      this.log.critical(`Unexpected error in the arbiter, stopping: ${stackOf(error)}`);
      await this.#stopAll();
      this.#cleanup();
      return ExitCode.INTERNAL;
    }
    await callHook(this.config, "onExit", this.log, this.server);
    this.#cleanup();
    return this.#exitCode;
  }

  /** Stops every worker without the loop: SIGQUIT, then SIGKILL for those still there after the quick-stop time. */
  async #stopAll(): Promise<void> {
    // (A worker process's kill never throws, and does nothing once it has exited.)
    const exits = [...this.workers.values()].map((worker) => {
      const exited = new Promise<void>((resolve) => worker.child.onExit(() => resolve()));
      worker.stop(false);
      return exited;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, QUICK_STOP_SECONDS * 1000)));
    await Promise.race([Promise.all(exits), late]);
    clearTimeout(timer);
    for (const worker of this.workers.values()) worker.child.kill("SIGKILL");
  }

  /** One pass of the loop: dispatch signals and exits, then the periodic duties. */
  async tick(): Promise<void> {
    for (const event of this.#queue.splice(0)) {
      if (event.kind === "signal") await this.#dispatch(event.signal);
      else if (event.kind === "exit") await this.reapWorker(event.pid, event.code, event.signal);
      else if (event.kind === "source") await this.#sourceChanged(event.file);
      else if (event.kind === "task") await event.task();
    }
    if (this.#exitCode !== undefined) return;
    if (this.#stop) return this.#progressStop();
    this.#checkLauncher();
    if (this.#stop) return;
    this.#checkPromotion();
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
      case "SIGHUP":
        return this.handleHup();
      case "SIGTTIN":
        return this.handleTtin();
      case "SIGTTOU":
        return this.handleTtou();
      case "SIGUSR1":
        return this.handleUsr1();
      case "SIGUSR2":
        return this.handleUsr2();
      case "SIGWINCH":
        return this.handleWinch();
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

  handleUsr1(): void {
    // Reopen first, so this line is the first in the new file.
    this.#options.reopenLogs?.();
    this.log.info("Handling signal: usr1; reopening log files");
    this.#giveToWorkers();
    // By message, not signal: a worker still starting has no USR1 handler yet (Node's default opens the inspector).
    for (const worker of this.workers.values()) worker.channel?.send({ type: "reopen-logs" });
  }

  /**
   * USR2: starts a new arbiter with this one's command line, handing it the
   * listening sockets (shared) or the ports (reuse-port). Both serve until the
   * old one is sent TERM (or WINCH, to stop only its workers).
   */
  handleUsr2(): void {
    this.#upgrade.start(this.listeners!, arbiterEnv(this.runtime));
  }

  /** WINCH: during an upgrade, retires this (old) arbiter's workers and keeps it for a rollback (HUP). */
  handleWinch(): Promise<void> | void {
    if (!this.#upgrade.successor) return this.log.debug("Ignoring WINCH: no upgrade under way (a terminal resize?)");
    this.log.info("Handling signal: winch; retiring the workers of the old arbiter");
    return this.setNumWorkers(0);
  }

  /** A new arbiter takes over once the old one has gone. */
  #checkPromotion(): void {
    const old = this.#upgrade.promoted();
    if (old === undefined) return;
    if (this.#pidfile && this.config.pidfile) {
      this.#removePidfile?.();
      this.#pidfile = this.config.pidfile;
      this.#removePidfile = writePidfile(this.runtime, this.#pidfile);
    }
    // Tests wait for this line.
    this.log.info(`Promoted: the old arbiter (pid:${old}) is gone; this arbiter (pid:${this.runtime.pid}) takes over`);
  }

  /**
   * HUP: reads the config again, starts a new generation of workers, and retires
   * each old worker only once a new one serves. If the new workers cannot boot,
   * the old ones keep serving.
   */
  async handleHup(): Promise<void> {
    if (this.#stop) return;
    this.log.info("Handling signal: hup; reloading");
    const previous = { config: this.config, http: this.#http! };
    const previousFile = this.#configFile;
    if (this.#options.reloadConfig) {
      try {
        const { config, configFile, sources } = await this.#options.reloadConfig();
        const http = resolveHttpSettings(this.runtime, config);
        if (JSON.stringify(config.bind) !== JSON.stringify(previous.config.bind)) {
          this.log.warning("The listeners changed in the config; a reload keeps the current ones: restart to rebind");
        }
        this.config = { ...config, bind: previous.config.bind };
        this.#http = http;
        this.#configFile = configFile;
        this.#sources = sources ?? this.#sources;
        this.log.setLevel(config.logLevel);
      } catch (error) {
        this.log.error(`Reload failed: ${messageOf(error)}; keeping the current config and workers`);
        this.#reloaded({ outcome: "failed", reason: `${messageOf(error)}; keeping the current config and workers` });
        return;
      }
    }
    this.#env = workerEnv(this.runtime, this.config);
    await callHook(this.config, "onReload", this.log, this.server);
    const numWorkers = this.numWorkers;
    if (this.config.workers !== this.numWorkers) await this.setNumWorkers(this.config.workers);
    this.#reloads.begin(this.runtime.monotonic(), { config: previous, configFile: previousFile, numWorkers });
    this.#backoff.reset();
    this.#bootFailures.newGeneration();
    for (const worker of this.workers.values()) {
      if (worker.state !== "retiring") worker.replace = "reload";
    }
    this.#readiness.reloading();
  }

  /** Changes the number of workers to keep; `manageWorkers` spawns or retires to match. */
  async setNumWorkers(value: number): Promise<void> {
    const old = this.numWorkers;
    this.numWorkers = value;
    await callHook(this.config, "nworkersChanged", this.log, this.server, value, old);
  }

  /** Stops the workers and leaves with `code`, as after a worker failed to boot. */
  halt(reason: string, code: number): void {
    if (this.#exitCode !== undefined || this.#stop) return;
    this.log.error(`Shutting down: ${reason}`);
    this.#haltCode = code;
    this.#beginStop(false, QUICK_STOP_SECONDS);
  }

  #beginStop(graceful: boolean, seconds: number): void {
    this.#readiness.stopping(graceful);
    // --shutdown-delay: a graceful stop first serves on, the health path answering 503, so that load
    // balancers stop sending before the listeners close.
    // After USR2, a new arbiter serves on: this one's workers leave as a reload's do (no delay, their
    // health path still 200), not as a server that stops.
    const successor = this.#upgrade.successor !== undefined;
    const delay = graceful && !successor ? this.config.shutdownDelay : 0;
    this.#stop = { graceful, deadline: this.runtime.monotonic() + delay + seconds, killed: false };
    // A new arbiter (USR2) serves the same unix sockets: leave their paths.
    const close = () => {
      for (const listener of this.listeners?.bound ?? []) listener.close(successor);
    };
    if (delay > 0) setTimeout(close, delay * 1000);
    else close();
    for (const worker of this.workers.values()) {
      if (graceful && successor) worker.retire(this.runtime.monotonic());
      else worker.stop(graceful, delay);
    }
    for (const waiter of this.#reloadWaiters.splice(0)) waiter({ outcome: "failed", reason: "the server is stopping" });
    this.#progressStop();
  }

  #reloaded(outcome: ReloadOutcome): void {
    this.#metrics.reloaded(outcome.outcome === "complete");
    for (const waiter of this.#reloadWaiters.splice(0)) waiter(outcome);
  }

  /** The live workers as the metrics and `unicorn ctl` see them. */
  workerViews(): WorkerView[] {
    const now = this.runtime.monotonic();
    return [...this.workers.values()].map((w) => w.view(now));
  }

  /** The Prometheus exposition of the whole server. */
  metricsText(): string {
    const ports = (this.listeners?.serve ?? []).flatMap((l) => (l.address.kind === "tcp" ? [l.address.port] : []));
    const backlog = this.config.enableBacklogMetric ? this.runtime.listenQueue(ports) : undefined;
    return this.#metrics.prometheus({ workers: this.workerViews(), backlog });
  }

  /** What `unicorn ctl` reads and does (src/arbiter/control-socket.ts). */
  get controlState(): ControlState {
    return {
      startedAt: this.#startedAt,
      generation: this.#reloads.generation,
      reloading: this.#reloads.underWay !== undefined,
      stopping: this.#stop !== undefined,
      engine: this.runtime.capabilities.engines[this.#http!.engine] ?? this.#http!.engine,
      metrics: this.#metrics,
      sources: this.#sources,
      reload: () =>
        new Promise<ReloadOutcome>((resolve) => {
          if (this.#stop) return resolve({ outcome: "failed", reason: "the server is stopping" });
          this.#reloadWaiters.push(resolve);
          this.#enqueue({ kind: "signal", signal: "SIGHUP" });
        }),
      enqueue: (signal) => this.#enqueue({ kind: "signal", signal }),
      run: (task) => this.#enqueue({ kind: "task", task }),
    };
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
        worker.kill(this.runtime.monotonic());
      }
    }
  }

  /** Forgets an exited worker, logs how it ended, and halts on a boot or load failure. */
  async reapWorker(pid: number, code: number | null, signal: string | null): Promise<void> {
    const worker = this.workers.get(pid);
    if (!worker) return;
    // A worker that failed to boot said why just before exiting: its words may still be on their way
    // (the exit can be seen first), so it stays known until they have come.
    const failed = haltingExit(code, worker.bootedAt !== undefined);
    // Its last words: why it failed, or its last counts, sent as it left (the exit may be seen first).
    if (failed || worker.channel) await this.#lastWords(worker);
    this.workers.delete(pid);
    const expected = worker.state === "retiring" || this.#stop !== undefined;
    const reason = this.#stop ? undefined : worker.abortedAt !== undefined ? "timeout" : worker.replace ?? (expected ? undefined : "crash");
    this.#metrics.workerGone(worker.stats, reason);
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
    if (failed) {
      const said = this.#bootFailures.toSay(worker);
      if (said) this.log.error(said);
      return this.#bootFailed(worker, failed.reason, failed.code);
    }
    if (worker.bootedAt === undefined && !expected) {
      const gaveUp = this.#bootFailures.exitedUnbooted(code, signal);
      if (gaveUp) return this.#bootFailed(worker, gaveUp.reason, gaveUp.code);
    }
    // A worker killed for a missed heartbeat or a slow boot counts as a crash too.
    if (!this.#stop && (!expected || worker.abortedAt !== undefined)) this.#noteCrash(worker);
  }

  /** Halts, or abandons the reload whose worker this is; a retired worker or one of an abandoned reload changes nothing. */
  #bootFailed(worker: WorkerHandle, reason: string, code: number): void {
    const meaning = this.#reloads.bootFailed(worker);
    if (meaning === "abort-reload") return this.#abortReload(reason, code);
    if (meaning === "halt" && !this.#stop) this.halt(reason, code);
  }

  /** Waits, briefly, for what a failing worker said (or for its channel to close). */
  async #lastWords(worker: WorkerHandle): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([worker.lastWords, new Promise<void>((resolve) => (timer = setTimeout(resolve, LAST_WORDS_MS)))]);
    clearTimeout(timer);
  }

  /** A worker of the new generation cannot boot: keep the old one serving, with the old config. */
  #abortReload(reason: string, code: number): void {
    const { generation, rollback } = this.#reloads.abort();
    this.log.error(`Reload failed: ${reason} (exit code ${code}); the previous workers keep serving`);
    this.#reloaded({ outcome: "failed", reason: `${reason} (exit code ${code}); the previous workers keep serving` });
    this.#bootFailures.resetCount();
    this.config = rollback.config.config;
    this.#http = rollback.config.http;
    this.#configFile = rollback.configFile;
    this.#env = workerEnv(this.runtime, this.config);
    this.log.setLevel(this.config.logLevel);
    if (this.numWorkers !== rollback.numWorkers) void this.setNumWorkers(rollback.numWorkers);
    this.#readiness.reloadFailed();
    for (const worker of this.workers.values()) {
      if (worker.generation === generation) this.retireWorker(worker);
      else if (worker.replace === "reload") worker.replace = undefined;
    }
  }

  #noteCrash(worker: WorkerHandle): void {
    const now = this.runtime.monotonic();
    const lived = now - (worker.bootedAt ?? worker.spawnedAt);
    const delay = this.#backoff.crashed(now, worker.bootedAt === undefined ? 0 : lived);
    if (delay > 0) {
      this.log.warning(`Worker (pid:${worker.pid}) died ${lived.toFixed(1)} s after ${worker.bootedAt ? "boot" : "start"}; ` +
        `respawning in ${delay.toFixed(2)} s (crash ${this.#backoff.crashes} in a row)`);
    }
  }

  /** Aborts, then kills, workers whose event loop has been silent too long, or that take too long to boot. */
  murderWorkers(): void {
    const now = this.runtime.monotonic();
    // After a stall of the arbiter itself (SIGSTOP, starvation), heartbeats may wait unread: judge next time.
    const stalled = this.#lastMurder > 0 && now - this.#lastMurder > 2 + TICK_MS / 1000;
    this.#lastMurder = now;
    if (stalled) return;
    const deadlines = {
      timeout: this.config.timeout,
      bootTimeout: this.config.bootTimeout,
      retire: this.config.gracefulTimeout + RETIRE_MARGIN_SECONDS,
      abortGrace: ABORT_GRACE_SECONDS,
    };
    for (const worker of this.workers.values()) {
      const due = worker.overdue(now, deadlines);
      if (due === undefined) continue;
      if (due.action === "kill") {
        if (due.why === "retired") {
          this.log.warning(`Worker (pid:${worker.pid}) did not exit ${this.config.gracefulTimeout} s after retiring; sending SIGKILL`);
        }
        worker.kill(now);
        continue;
      }
      this.log.critical(`WORKER TIMEOUT (pid:${worker.pid}): ` +
        (due.why === "boot" ? `not serving ${due.limit} s after start` : `no heartbeat for ${due.limit} s`));
      // It stays counted until it has exited, so its replacement starts then, not now.
      worker.abort(now);
    }
  }

  /**
   * Spawns workers to reach `numWorkers`, and retires surplus workers and those
   * marked for replacement, the latter only while enough younger ones serve.
   */
  async manageWorkers(): Promise<void> {
    const live = [...this.workers.values()].filter((w) => w.state !== "retiring");
    const keep = live.filter((w) => !w.replace);
    if (this.runtime.monotonic() >= this.#backoff.until) {
      for (let i = keep.length; i < this.numWorkers; i++) await this.spawnWorker();
    }
    const byAge = (a: WorkerHandle, b: WorkerHandle) => a.id - b.id;
    for (const worker of keep.sort(byAge).slice(0, Math.max(0, keep.length - this.numWorkers))) {
      this.retireWorker(worker);
    }
    let capacity = live.filter((w) => w.state === "serving").length;
    for (const worker of live.filter((w) => w.replace).sort(byAge)) {
      if (worker.state === "serving" && capacity - 1 < this.numWorkers) break;
      if (worker.state === "serving") capacity--;
      this.retireWorker(worker);
    }
    this.#checkReloadDone();
  }

  /** Says once a reload is done, and tells systemd when the workers it waits for all serve. */
  #checkReloadDone(): void {
    const now = this.runtime.monotonic();
    const done = this.#reloads.complete(this.workers.values(), this.numWorkers, now);
    if (done) {
      // Tests wait for this line.
      this.log.info(`Reload complete: ${done.serving} workers of generation ${done.generation} serving, ${done.ms} ms after HUP`);
      this.#reloaded({ outcome: "complete", ...done });
    }
    const serving = [...this.workers.values()].filter((w) => w.state === "serving").length;
    this.#readiness.check(serving, this.numWorkers, this.#reloads.underWay !== undefined);
  }

  /** Asks a worker to finish its requests and exit. */
  retireWorker(worker: WorkerHandle): void {
    worker.retire(this.runtime.monotonic());
  }

  #replace(worker: WorkerHandle, reason: ReplaceReason, detail: string): void {
    if (!worker.markForReplacement(reason)) return;
    this.log.info(`Worker (pid:${worker.pid}) ${detail}; starting its replacement`);
  }

  async spawnWorker(): Promise<WorkerHandle | undefined> {
    const listeners = this.listeners!;
    const id = ++this.#age;
    const launch: WorkerLaunch = {
      id,
      config: this.config,
      configFile: this.#configFile,
      control: `${this.#controlDir}/control.sock`,
      listeners,
      http: this.#http!,
      loader: this.#loader,
      env: this.#env,
      ids: this.#ids,
    };
    const spec = workerSpec(this.runtime, launch);
    await callHook(launch.config, "preFork", this.log, this.server, { id, pid: undefined });
    let child;
    try {
      child = this.runtime.spawnWorker(spawnSpec(this.runtime, launch, spec));
    } catch (error) {
      const delay = this.#backoff.crashed(this.runtime.monotonic(), 0);
      this.log.error(`Cannot spawn a worker: ${messageOf(error)}; trying again in ${delay.toFixed(2)} s`);
      return undefined;
    }
    const worker = new WorkerHandle(id, this.#reloads.generation, child, this.runtime.monotonic());
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
        const handle = this.workers.get(message.pid);
        if (!handle) return channel.close();
        worker = handle;
        handle.channel = channel;
        channel.onClose(() => {
          if (handle.channel === channel) handle.disconnected();
        });
        return;
      }
      if (worker) this.#onMessage(worker, message);
    });
  }

  #onMessage(worker: WorkerHandle, message: Message): void {
    const now = this.runtime.monotonic();
    switch (message.type) {
      case "booted":
        worker.booted(now);
        this.#bootFailures.served();
        if (message.loader) this.#noteLoader(message.loader);
        if (message.app) this.#noteApp(message.app);
        // Tests wait for this line.
        this.log.info(`Worker (pid:${worker.pid}) is serving, booted in ${Math.round((now - worker.spawnedAt) * 1000)} ms`);
        // A new worker serving may let an old one retire now rather than at the next tick.
        return this.#enqueue({ kind: "wake" });
      case "heartbeat": {
        worker.beat(now, message.requests, message.rss, message.stats);
        const limit = this.config.maxWorkerMemory * 1024 * 1024;
        if (limit > 0 && message.rss > limit) {
          this.#replace(worker, "memory", `uses ${Math.round(message.rss / 1048576)} MiB, over --max-worker-memory`);
        }
        return;
      }
      case "failed":
        return worker.failed(message.message);
      case "recycle":
        worker.requests = message.requests;
        return this.#replace(worker, "max-requests", `served ${message.requests} requests (--max-requests)`);
      case "stuck":
        return this.#replace(worker, "stuck", message.reason);
      case "draining":
        return worker.draining();
    }
  }

  /** Says once which loader compiles the app (and again if that changes); later workers use it at once. */
  #noteLoader(loader: { name: string; reason?: string }): void {
    this.#loader = loader.name === "tsx" ? "tsx" : undefined;
    if (this.#loaderLogged === loader.name) return;
    this.#loaderLogged = loader.name;
    this.log.info(`The app is TypeScript, loaded through ${loader.name}${loader.reason ? ` (${loader.reason})` : ""}`);
  }

  /**
   * Says once what the app was taken for and which engine serves it (a Node-style app takes node:http
   * under --engine auto), with what that engine does not enforce; again if that changes (a reload).
   */
  #noteApp(app: { what: string; engine: Engine }): void {
    const key = `${app.what} ${app.engine}`;
    if (this.#appLogged === key) return;
    this.#appLogged = key;
    const { engines, engineNotes } = this.runtime.capabilities;
    this.log.info(`App: ${app.what}; served by ${engines[app.engine] ?? app.engine}`);
    const note = engineNotes?.[app.engine];
    if (note) this.log.warning(note);
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
    for (const listener of this.listeners?.bound ?? []) listener.close(this.#upgrade.successor !== undefined);
    void this.#control?.close();
    // A new arbiter (USR2) took the control socket's path over.
    void this.#ctl?.close(this.#upgrade.successor === undefined);
    void this.#observers?.close();
    if (this.#controlDir) this.runtime.removePath(this.#controlDir);
    this.#removePidfile?.();
    this.#stopWatching?.();
  }
}
