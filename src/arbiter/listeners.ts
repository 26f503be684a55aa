/** Opening the listeners: once, in the arbiter, before any worker starts. */
import { type BindAddress } from "../config/bind.ts";
import type { Config } from "../config/settings.ts";
import { ExitCode, messageOf, UnicornError, usageError } from "../errors.ts";
import type { BoundListener, Runtime, ServeListener, Strategy } from "../runtime.ts";

/** The listeners of a running arbiter. */
export interface OpenListeners {
  readonly strategy: Strategy;
  /** Sockets the arbiter holds (shared strategy); handed to workers as fds 3, 4, ... */
  readonly bound: readonly BoundListener[];
  /** What each worker serves. */
  readonly serve: readonly ServeListener[];
}

/** Picks the strategy from the config and what the runtime can do. */
export function chooseStrategy(runtime: Runtime, reusePort: boolean | undefined): Strategy {
  const { capabilities } = runtime;
  if (reusePort === true) {
    if (!capabilities.reusePort) {
      throw usageError(`Cannot use "--reuse-port" on ${runtime.name} ${runtime.version}: ` +
        "the node backend serves only the arbiter's shared sockets (see docs/listeners.md)");
    }
    return "reuse-port";
  }
  if (capabilities.sharedListeners) return "shared";
  if (reusePort === false) {
    throw usageError(`Cannot turn "--reuse-port" off on ${runtime.name}: ` +
      "its arbiter cannot hand a listening socket to workers (see docs/listeners.md)");
  }
  return "reuse-port";
}

function cannotBind(address: BindAddress, error: unknown): UnicornError {
  return new UnicornError(`Cannot bind "${address.text}": ${messageOf(error)}`, ExitCode.CANNOT_LISTEN, {
    cause: error,
  });
}

/** Binds every address (shared), or checks each can be bound (reuse-port). */
export async function openListeners(runtime: Runtime, config: Config): Promise<OpenListeners> {
  const strategy = chooseStrategy(runtime, config.reusePort);
  const bound: BoundListener[] = [];
  const serve: ServeListener[] = [];
  try {
    for (const address of config.bind) {
      if (strategy === "shared") {
        let listener: BoundListener;
        try {
          listener = await runtime.bindShared(address, config.backlog);
        } catch (error) {
          throw cannotBind(address, error);
        }
        bound.push(listener);
        serve.push({ kind: "fd", fd: 2 + bound.length, address: listener.address });
        continue;
      }
      if (address.kind !== "tcp") {
        throw usageError(`Cannot bind "${address.text}" on ${runtime.name}: with the reuse-port strategy ` +
          "each worker binds its own socket, which only works for HOST:PORT addresses (see docs/listeners.md)");
      }
      let port: number;
      try {
        port = await runtime.probePort(address);
      } catch (error) {
        throw cannotBind(address, error);
      }
      const resolved = { ...address, port };
      serve.push({ kind: "reuse-port", host: address.host, port, address: resolved });
    }
  } catch (error) {
    for (const listener of bound) listener.close();
    throw error;
  }
  return { strategy, bound, serve };
}
