/**
 * The worker's own code: connect to the arbiter, load the app, serve it on the
 * listeners it was given, send heartbeats, drain on TERM, exit on INT/QUIT or
 * when the arbiter goes away.
 */
import { ExitCode, messageOf, stackOf, UnicornError } from "../errors.ts";
import { guardApp } from "../http/app-handler.ts";
import { Logger } from "../log/logger.ts";
import { WORKER_SPEC_ENV, type WorkerSpec } from "../protocol.ts";
import type { Channel, HttpServer, Runtime } from "../runtime.ts";
import { loadApp } from "./app-loader.ts";

/** How often a worker tells the arbiter it is alive, in ms, for a given `--timeout`. */
export function heartbeatInterval(timeoutSeconds: number): number {
  if (timeoutSeconds <= 0) return 1000;
  return Math.max(50, Math.min(1000, (timeoutSeconds * 1000) / 4));
}

/** Runs a worker to its end; the process exits from here. */
export async function runWorker(runtime: Runtime): Promise<void> {
  const raw = runtime.env()[WORKER_SPEC_ENV];
  if (!raw) {
    runtime.writeError(`unicorn: this is a worker entry point: run "unicorn APP" instead`);
    runtime.exit(ExitCode.USAGE);
  }
  const spec = JSON.parse(raw) as WorkerSpec;
  const log = new Logger({ level: spec.logLevel, sink: (line) => runtime.writeError(line), pid: runtime.pid });
  let server: HttpServer | undefined;
  let stopping = false;

  const exit = (code: number): never => runtime.exit(code);
  let channel: Channel;
  try {
    channel = await runtime.connectControl(spec.control);
  } catch (error) {
    log.error(`Cannot reach the arbiter at "${spec.control}": ${messageOf(error)}`);
    return exit(ExitCode.WORKER_BOOT_ERROR);
  }
  // The socket closes when the arbiter dies, SIGKILL included: never outlive it.
  channel.onClose(() => {
    log.warning("Arbiter is gone, worker exiting");
    exit(ExitCode.OK);
  });
  channel.send({ type: "hello", id: spec.id, pid: runtime.pid });

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (!server) exit(ExitCode.OK);
    channel.send({ type: "draining" });
    await server!.drain();
    exit(ExitCode.OK);
  };
  channel.onMessage((message) => {
    if (message.type === "stop") void stop();
  });
  runtime.onSignal("SIGTERM", () => void stop());
  runtime.onSignal("SIGINT", () => exit(ExitCode.OK));
  runtime.onSignal("SIGQUIT", () => exit(ExitCode.OK));
  runtime.onUncaught((error, kind) => {
    if (kind === "rejection") {
      log.error(`Unhandled promise rejection: ${stackOf(error)}`);
      return;
    }
    log.critical(`Uncaught exception, worker exiting: ${stackOf(error)}`);
    exit(ExitCode.INTERNAL);
  });

  let guarded;
  try {
    guarded = guardApp(await loadApp(spec.app, runtime, spec.cwd), log);
  } catch (error) {
    if (error instanceof UnicornError) {
      log.error(error.message);
      if (error.cause !== undefined) log.debug(stackOf(error.cause));
      return exit(error.exitCode);
    }
    log.error(`Cannot boot worker: ${stackOf(error)}`);
    return exit(ExitCode.WORKER_BOOT_ERROR);
  }
  try {
    server = await runtime.serve(guarded.handler, spec.listeners, {
      backlog: spec.backlog,
      onError: (error) => log.debug(`Connection error: ${messageOf(error)}`),
    });
  } catch (error) {
    log.error(`Cannot serve ${spec.listeners.map((l) => l.address.text).join(", ")}: ${messageOf(error)}`);
    return exit(ExitCode.WORKER_BOOT_ERROR);
  }
  channel.send({ type: "booted" });
  const requests = guarded.requests;
  setInterval(() => channel.send({ type: "heartbeat", requests: requests() }), heartbeatInterval(spec.timeout));
}
