/** Opening the listeners: once, in the arbiter, before any worker starts. */
import { type BindAddress } from "../config/bind.ts";
import type { Config } from "../config/settings.ts";
import { ExitCode, isPermissionError, messageOf, permissionError, UnicornError, usageError } from "../errors.ts";
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
  if (isPermissionError(error)) return permissionError(error);
  return new UnicornError(`Cannot bind "${address.text}": ${messageOf(error)}`, ExitCode.CANNOT_LISTEN, {
    cause: error,
  });
}

/** Sockets handed over by a previous arbiter (USR2) or by systemd. */
export interface Inherited {
  /** Listening descriptors, used instead of binding (shared strategy). */
  readonly fds?: readonly number[];
  /** The ports the previous arbiter's workers use (reuse-port): no probe, they are taken. */
  readonly ports?: readonly number[];
  /** Where they came from, for the log. */
  readonly from: string;
}

/** Binds every address (shared), or checks each can be bound (reuse-port), or adopts what was inherited. */
export async function openListeners(runtime: Runtime, config: Config, inherited?: Inherited): Promise<OpenListeners> {
  const strategy = chooseStrategy(runtime, config.reusePort);
  const bound: BoundListener[] = [];
  const serve: ServeListener[] = [];
  if (inherited?.fds?.length && strategy === "shared") {
    for (const fd of inherited.fds) {
      const listener = await runtime.bindShared({ kind: "fd", fd, text: `fd://${fd}` }, config.backlog);
      bound.push(listener);
      serve.push({ kind: "fd", fd: 2 + bound.length, address: listener.address });
    }
    return { strategy, bound, serve };
  }
  if (inherited?.fds?.length) {
    throw usageError(`Cannot serve the sockets inherited from ${inherited.from} on ${runtime.name}: ` +
      "its workers cannot serve a descriptor (see docs/listeners.md)");
  }
  try {
    for (const [index, address] of config.bind.entries()) {
      const inheritedPort = inherited?.ports?.[index];
      if (strategy === "reuse-port" && address.kind === "tcp" && inheritedPort !== undefined) {
        serve.push({ kind: "reuse-port", host: address.host, port: inheritedPort, address: { ...address, port: inheritedPort } });
        continue;
      }
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
