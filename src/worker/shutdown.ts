/**
 * What an app listens on to end what it holds open when its worker stops: a server-sent events stream
 * (send a last event, close the stream: the client reconnects to a worker that serves), a WebSocket (a
 * last message before unicorn closes it with 1001), a long poll. It aborts once, as the worker begins to
 * drain: after --shutdown-delay on TERM, on HUP and TTOU for the old workers, on a recycle.
 *
 * @example
 * ```ts
 * import { shutdownSignal } from "unicorn-http";
 * // in a handler that streams: end the stream cleanly when the worker stops
 * shutdownSignal().addEventListener("abort", () => controller.close(), { once: true });
 * ```
 *
 * One signal per process, kept on a global: the app's copy of this module (its own import of the
 * package) and the worker's are not the same module instance.
 */
const KEY = Symbol.for("unicorn.shutdown");

function controller(): AbortController {
  const holder = globalThis as { [KEY]?: AbortController };
  return (holder[KEY] ??= new AbortController());
}

/** The signal that aborts when this worker begins to drain; never aborts outside a unicorn worker. */
export function shutdownSignal(): AbortSignal {
  return controller().signal;
}

/** Aborts the signal: the worker, as it begins to drain. */
export function beginShutdown(): void {
  controller().abort(new Error("The worker is stopping"));
}
