/**
 * The worker's own code: connect to the arbiter, load the app, serve it on the
 * listeners it was given, send heartbeats, drain on TERM, exit on INT/QUIT or
 * when the arbiter goes away.
 */
import { beginShutdown } from "./shutdown.ts";
import { loadConfigFile } from "../config/file.ts";
import { callHook, callHookStrict, type Hooks, type WorkerInfo } from "../config/hooks.ts";
import { ExitCode, messageOf, stackOf, UnicornError } from "../errors.ts";
import { type HttpSettings, RequestPolicy } from "../http/policy.ts";
import { AccessLog, compileAccessFormat } from "../http/access-log.ts";
import type { Logger } from "../log/logger.ts";
import { openErrorLog } from "../log/open.ts";
import { type Message, WORKER_SPEC_ENV, type WorkerSpec } from "../messages.ts";
import type { Channel, HttpServer, Runtime } from "../runtime.ts";
import { installRequestIp } from "../http/client.ts";
import { type LoadedApp, loadApp, notAnApp, type ServableApp, toServable } from "./app-loader.ts";
import { buildPipeline } from "./pipeline.ts";
import { RequestStats } from "./stats.ts";

/** How often a worker tells the arbiter it is alive, in ms, for a given `--timeout`. */
export function heartbeatInterval(timeoutSeconds: number): number {
  if (timeoutSeconds <= 0) return 1000;
  return Math.max(50, Math.min(1000, (timeoutSeconds * 1000) / 4));
}

/**
 * How often a worker checks that its arbiter is still its parent, in ms, while it boots; serving, the
 * control socket's close says the arbiter died, and each heartbeat checks the parent as a backstop.
 */
const ORPHAN_CHECK_MS = 200;

/** Descriptors a worker keeps for itself (stdio, event loop, control socket, listeners, logs, files the app opens). */
const FD_RESERVE = 64;

/**
 * Keeps --worker-connections below the open-file limit, so a flood of connections is refused
 * by the cap (closed at once) instead of exhausting descriptors: some engines stop accepting
 * for good on EMFILE (Deno's node:net) or spin (Bun).
 */
function capConnections(http: HttpSettings, runtime: Runtime, log: Logger): HttpSettings {
  const limit = runtime.openFileLimit();
  if (limit === undefined || http.workerConnections <= limit - FD_RESERVE) return http;
  const cap = Math.max(1, limit - FD_RESERVE);
  log.info(`--worker-connections ${http.workerConnections} is more than the open-file limit (${limit}) leaves; ` +
    `capping at ${cap} (raise the limit with ulimit -n or systemd's LimitNOFILE=)`);
  return { ...http, workerConnections: cap };
}

/** Ticks in a row with connections queued and none accepted before the accept loop counts as stalled. */
const STALLED_TICKS = 3;
/** An idle worker looks at the kernel's accept queue once in this many ticks. */
const IDLE_LOOK = 5;

/**
 * Watches for running out of descriptors, and, on engines whose accept loop dies on EMFILE
 * (Deno's node:net), for an accept loop that has stopped: connections wait in the kernel's
 * queue and none is accepted, tick after tick. Then the worker asks to be replaced: it
 * finishes its connections while a fresh worker accepts new ones.
 */
function acceptWatch(runtime: Runtime, server: HttpServer, log: Logger, onStuck: (reason: string) => void): () => void {
  let exhausted = false;
  let stuck = false;
  let lastAccepted = -1;
  let stalled = 0;
  let idle = 0;
  return () => {
    if (runtime.descriptorsExhausted()) {
      if (!exhausted) log.warning("Out of file descriptors: new connections wait until some close");
      exhausted = true;
      server.pause?.();
    } else {
      // Each tick: a paused listener listens again once enough descriptors are free (a no-op otherwise).
      server.resume?.();
      if (exhausted) {
        exhausted = false;
        log.info("File descriptors are free again");
      }
    }
    if (runtime.capabilities.acceptSurvivesEmfile || stuck || !server.accepted) return;
    const accepted = server.accepted();
    // Accepting: the loop is alive. Only an unchanged count is worth a look at the kernel's queue.
    if (accepted !== lastAccepted) {
      lastAccepted = accepted;
      stalled = 0;
      idle = 0;
      return;
    }
    // /proc/net/tcp lists every socket of the host: an idle server looks once in IDLE_LOOK ticks,
    // and every tick only once it has seen connections waiting.
    if (stalled === 0 && idle++ % IDLE_LOOK !== 0) return;
    stalled = (runtime.acceptQueue() ?? 0) > 0 ? stalled + 1 : 0;
    if (stalled >= STALLED_TICKS) {
      stuck = true;
      log.error("The server stopped accepting connections (its accept loop died, as when descriptors ran out); " +
        "asking for a replacement");
      onStuck("stopped accepting connections");
    }
  };
}

async function loadHandler(spec: WorkerSpec, runtime: Runtime, hooks: Hooks): Promise<LoadedApp> {
  const choice = spec.http.interface;
  if (spec.app !== null) return loadApp(spec.app, runtime, spec.cwd, { loader: spec.loader, interface: choice });
  const value = (hooks as { app?: unknown }).app;
  const app = await toServable(value, choice);
  if (!app) throw notAnApp('from the config file: "app"', value, choice);
  return { app };
}

/**
 * The HTTP settings a worker serves its app with: a Node-style app takes the node:http engine when
 * `--engine auto` chose another (Bun.serve, Deno.serve serve Fetch handlers only).
 */
function settingsFor(app: ServableApp, http: HttpSettings, runtime: Runtime): HttpSettings {
  if (app.interface !== "node" || http.engine === "node") return http;
  const native = runtime.capabilities.engines[http.engine];
  if (http.engineChosen || runtime.capabilities.engines.node === undefined) {
    throw new UnicornError(`Cannot serve ${app.what} with ${native}: it serves Fetch handlers; ` +
      `use --engine node (node:http), or --interface fetch if the app is a Fetch handler`, ExitCode.USAGE);
  }
  return { ...http, engine: "node" };
}

/** Runs a worker to its end; the process exits from here. */
export async function runWorker(runtime: Runtime): Promise<void> {
  const raw = runtime.env()[WORKER_SPEC_ENV];
  if (!raw) {
    runtime.writeError(`unicorn: this is a worker entry point: run "unicorn APP" instead`);
    runtime.exit(ExitCode.USAGE);
  }
  const spec = JSON.parse(raw) as WorkerSpec;
  // Never outlive the arbiter, from the first instant: a worker spawned just before its arbiter died
  // (SIGKILL) may find no one at the control socket, or be left connected to a socket no one reads.
  const orphaned = () => {
    if (runtime.parentPid() === spec.arbiterPid) return false;
    // The arbiter died without cleaning up: its control folder goes with the last of its workers.
    runtime.removePath(spec.control.slice(0, spec.control.lastIndexOf("/")));
    return true;
  };
  /**
   * The control socket closes (or refuses) as the arbiter dies, a moment before the worker is handed
   * to init: wait for that, briefly, so that the arbiter's control folder is removed, then exit.
   */
  const leaveAsOrphan = (code: number, tries = 0): void => {
    if (orphaned() || tries >= 20) runtime.exit(code);
    else setTimeout(() => leaveAsOrphan(code, tries + 1), 10);
  };
  if (orphaned()) return runtime.exit(ExitCode.OK);
  const orphanWatch = setInterval(() => {
    if (orphaned()) runtime.exit(ExitCode.OK);
  }, ORPHAN_CHECK_MS);
  let log: Logger;
  try {
    log = openErrorLog(runtime, spec.errorLog, spec.logLevel);
  } catch (error) {
    log = openErrorLog(runtime, "-", spec.logLevel);
    log.warning(`Cannot open the error log "${spec.errorLog}" (${messageOf(error)}); logging to standard error`);
  }
  const worker: WorkerInfo = { id: spec.id, pid: runtime.pid, log };
  if (spec.procName) runtime.setTitle(`unicorn: worker [${spec.procName}]`);
  let lostOutput = 0;
  runtime.guardOutput((error) => {
    // Said on the 1st, 10th, 100th... loss, as for the access log.
    if (Number.isInteger(Math.log10(++lostOutput))) {
      log.warning(`Cannot write the app's standard output or error (${lostOutput} writes lost so far): ${messageOf(error)}`);
    }
  });
  let hooks: Hooks = {};
  let server: HttpServer | undefined;
  let stopping = false;
  /**
   * The server stops (said by the arbiter's `stop` message): the health path says 503. A worker that
   * only gets TERM leaves alone (a reload, a recycle, a scale down) while the server goes on: 200.
   */
  let serverStopping = false;
  let exiting = false;

  let channel: Channel | undefined;
  /** The last counts, sent as the worker leaves, so that none of its requests goes uncounted. */
  let lastBeat: (() => Message) | undefined;
  const exit = async (code: number): Promise<never> => {
    if (!exiting) {
      exiting = true;
      await callHook(hooks, "workerExit", log, worker);
      if (lastBeat && channel) {
        channel.send(lastBeat());
        await channel.end();
      }
    }
    return runtime.exit(code);
  };
  const stop = async (delay = 0) => {
    if (stopping) return;
    stopping = true;
    if (!server) return void (await exit(ExitCode.OK));
    // The health path says 503 at once; load balancers that poll it stop sending before the listener closes.
    if (delay > 0) {
      log.info(`Stopping in ${delay} s (--shutdown-delay); the health path answers 503 meanwhile`);
      await new Promise((resolve) => setTimeout(resolve, delay * 1000));
    }
    channel?.send({ type: "draining" });
    // Connections that outlive the graceful timeout (a stream, a long poll) do not keep the worker.
    if (spec.gracefulTimeout > 0) {
      setTimeout(() => {
        log.warning(`Connections still open after ${spec.gracefulTimeout} s; exiting`);
        void exit(ExitCode.OK);
      }, spec.gracefulTimeout * 1000);
    }
    // The app hears it first (shutdownSignal): a stream can send its last event, a WebSocket its last message.
    beginShutdown();
    await server.drain();
    await exit(ExitCode.OK);
  };
  let accessFile: { reopen(): void } | undefined;
  const reopenLogs = () => {
    log.reopen();
    try {
      accessFile?.reopen();
    } catch (error) {
      log.error(`Cannot reopen the access log: ${messageOf(error)}`);
    }
    log.info("Worker reopened its log file");
  };
  const quit = async () => {
    await callHook(hooks, "workerInt", log, worker);
    await exit(ExitCode.OK);
  };
  runtime.onSignal("SIGTERM", () => void stop());
  runtime.onSignal("SIGINT", () => void quit());
  runtime.onSignal("SIGQUIT", () => void quit());
  runtime.onSignal("SIGUSR1", reopenLogs);
  runtime.onSignal("SIGHUP", () => log.debug("Ignoring HUP: the arbiter reloads workers"));
  runtime.onSignal("SIGABRT", () => {
    void callHook(hooks, "workerAbort", log, worker).then(() => exit(ExitCode.INTERNAL));
  });
  runtime.onUncaught((error, kind) => {
    if (kind === "rejection") {
      log.error(`Unhandled promise rejection: ${stackOf(error)}`);
      return;
    }
    log.critical(`Uncaught exception, worker exiting: ${stackOf(error)}`);
    void exit(ExitCode.INTERNAL);
  });

  // Signal handlers are in place before the arbiter learns of this worker.
  try {
    channel = await runtime.connectControl(spec.control);
  } catch (error) {
    log.error(`Cannot reach the arbiter at "${spec.control}": ${messageOf(error)}`);
    return leaveAsOrphan(ExitCode.WORKER_BOOT_ERROR);
  }
  // The socket closes when the arbiter dies, SIGKILL included: never outlive it.
  channel.onClose(() => {
    log.warning("Arbiter is gone, worker exiting");
    leaveAsOrphan(ExitCode.OK);
  });
  channel.onMessage((message) => {
    if (message.type === "stop") {
      serverStopping = true;
      void stop(message.delay);
    }
    else if (message.type === "reopen-logs") reopenLogs();
  });
  channel.send({ type: "hello", id: spec.id, pid: runtime.pid });
  const control = channel;
  /** Cannot boot: the arbiter says why, once for all the workers that fail alike; then exit with `code`. */
  const failBoot = async (message: string, code: number): Promise<void> => {
    control.send({ type: "failed", message });
    await control.end();
    await exit(code);
  };

  let app: LoadedApp;
  let http: HttpSettings;
  try {
    if (spec.configFile) hooks = (await loadConfigFile(runtime, spec.configFile)).values as Hooks;
    await callHookStrict(hooks, "postFork", worker);
    app = await loadHandler(spec, runtime, hooks);
    http = settingsFor(app.app, spec.http, runtime);
    await callHookStrict(hooks, "postWorkerInit", worker);
  } catch (error) {
    const known = error instanceof UnicornError;
    if (known && error.cause !== undefined) log.debug(stackOf(error.cause));
    return failBoot(known ? error.message : `Cannot boot worker: ${stackOf(error)}`, known ? error.exitCode : ExitCode.WORKER_BOOT_ERROR);
  }
  log.debug(`Serving ${app.app.what} with ${runtime.capabilities.engines[http.engine]}`);
  const policy = new RequestPolicy(capConnections(http, runtime, log));
  const stats = new RequestStats();
  let accessLog: AccessLog | undefined;
  if (spec.accessLog) {
    let write: (line: string) => void;
    if (spec.accessLog === "-") write = (line) => runtime.writeOut(line);
    else {
      const file = runtime.openLogFile(spec.accessLog);
      accessFile = file;
      write = (line) => file.write(line);
    }
    accessLog = new AccessLog(compileAccessFormat(spec.accessLogFormat, runtime.env()), write, runtime.pid, (n, error) => {
      // Said on the 1st, 10th, 100th... failure: a full disk must not flood the error log as well.
      stats.logFailures++;
      if (Number.isInteger(Math.log10(n))) log.warning(`Cannot write the access log (${n} lines lost so far): ${messageOf(error)}`);
    });
  }
  const pipeline = buildPipeline({
    app: app.app,
    stats,
    healthPath: spec.healthPath,
    ready: () => !serverStopping,
    hooks,
    worker,
    log,
    policy,
    accessLog,
    requestTimeout: spec.requestTimeout,
    maxRequests: spec.maxRequests,
    onLimit: () => control.send({ type: "recycle", requests: spec.maxRequests }),
  });
  // Loading the app may have taken long: an orphan must not start listening.
  if (orphaned()) return runtime.exit(ExitCode.OK);
  try {
    server = await runtime.serve(pipeline.served, spec.listeners, {
      backlog: spec.backlog,
      policy,
      onRefused: (rejection, head, peer) => pipeline.refusedOnWire(rejection, head, peer),
      onUpgrade: (head, peer, status) => pipeline.upgradedOnWire(head, peer, status),
      onWebSocket: (delta) => stats.webSocket(delta),
      onError: (error) => log.debug(`Connection error: ${messageOf(error)}`),
      onStopped: (reason) => {
        log.error(`The server stopped accepting connections (${reason}); asking for a replacement`);
        control.send({ type: "stuck", reason: "stopped accepting connections" });
      },
    });
  } catch (error) {
    return failBoot(`Cannot serve ${spec.listeners.map((l) => l.address.text).join(", ")}: ${messageOf(error)}`, ExitCode.WORKER_BOOT_ERROR);
  }
  // srvx's and h3 v2's request.ip, on the Request class the engine builds (node:http's bridge has its own).
  installRequestIp(globalThis.Request.prototype);
  control.send({ type: "booted", loader: app.loader, app: { what: app.app.what, engine: http.engine } });
  const requests = pipeline.requests;
  lastBeat = () => ({ type: "heartbeat", requests: requests(), rss: runtime.memoryRss(), stats: stats.snapshot() });
  if (orphaned()) return runtime.exit(ExitCode.OK);
  const watchAccept = acceptWatch(runtime, server, log, (reason) => control.send({ type: "stuck", reason }));
  // Serving, the control socket's close tells of the arbiter's death and each heartbeat checks the parent
  // as a backstop: a timer five times a second would cost an idle worker as much CPU as its runtime's own
  // idling (measured on Bun: 1.5 ms/s more).
  clearInterval(orphanWatch);
  setInterval(() => {
    if (orphaned()) return runtime.exit(ExitCode.OK);
    watchAccept();
    control.send(lastBeat!());
  }, heartbeatInterval(spec.timeout));
}
