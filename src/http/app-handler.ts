/**
 * Wraps the app so that a throw, a rejected promise or a value that is not a
 * Response answers 500 with a body that leaks nothing, logs the stack, and
 * leaves the worker serving.
 */
import { stackOf } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { ConnInfo, FetchHandler } from "../runtime.ts";

const ERROR_BODY = "Internal Server Error\n";

function internalError(): Response {
  return new Response(ERROR_BODY, { status: 500, headers: { "content-type": "text/plain; charset=utf-8" } });
}

function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  // A Response of another realm or a polyfill. `in` calls no getter: reading `headers` of
  // @hono/node-server's lazy Response would build a full one (measured: +15 % CPU per request).
  return value !== null && typeof value === "object" && "status" in value && "headers" in value;
}

/** Counts requests and guards the app; `requests` is read by the heartbeat. */
export interface GuardedHandler {
  readonly handler: FetchHandler;
  readonly requests: () => number;
}

/**
 * Wraps `app` for serving. Sync results stay sync: no promise per request unless the app makes one.
 * `onLimit` is called once, when the `limit`-th request arrives (`--max-requests`).
 */
export function guardApp(
  app: FetchHandler,
  log: Logger,
  options: { limit?: number; onLimit?: () => void } = {},
): GuardedHandler {
  let requests = 0;
  const limit = options.limit || -1;
  const fail = (request: Request, error: unknown): Response => {
    log.error(`Error handling request ${request.method} ${new URL(request.url).pathname}: ${stackOf(error)}`);
    return internalError();
  };
  const check = (request: Request, value: unknown): Response => {
    if (isResponse(value)) return value;
    return fail(request, new TypeError(`The app returned ${value === null ? "null" : typeof value}, not a Response`));
  };
  const handler = (request: Request, info: ConnInfo): Response | Promise<Response> => {
    if (++requests === limit) options.onLimit?.();
    let result: unknown;
    try {
      result = app(request, info);
    } catch (error) {
      return fail(request, error);
    }
    if (result instanceof Promise) {
      return result.then((value) => check(request, value), (error) => fail(request, error));
    }
    return check(request, result);
  };
  return { handler, requests: () => requests };
}
