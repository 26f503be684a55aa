/**
 * Wraps the app so that a throw, a rejected promise or a value that is not a
 * Response answers 500 with a body that leaks nothing, logs the stack, and
 * leaves the worker serving. A request whose connection the app took over
 * (a WebSocket upgrade on Bun) answers nothing: it becomes a 101 for the log.
 */
import { stackOf } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { ConnInfo, EngineInfo, FetchHandler } from "../runtime.ts";

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

const UPGRADED = new WeakSet<Response>();

/**
 * What the stages after the app see of a request whose connection the app took over: status 101 for the
 * access log and the counts. The engine answers nothing for it ({@linkcode isSwitchingProtocols}).
 * A Response cannot be made with status 101, so this is one in shape only.
 */
export function switchingProtocols(): Response {
  const response = Object.create(Response.prototype, {
    status: { value: 101 },
    statusText: { value: "Switching Protocols" },
    ok: { value: false },
    headers: { value: new Headers() },
    body: { value: null },
  }) as Response;
  UPGRADED.add(response);
  return response;
}

/** Whether the pipeline answered `response` for a request the app upgraded: the engine sends nothing. */
export function isSwitchingProtocols(response: Response): boolean {
  return UPGRADED.has(response);
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
  const check = (request: Request, value: unknown, info: ConnInfo): Response => {
    if (isResponse(value)) return value;
    if (value == null && (info as EngineInfo).upgraded) return switchingProtocols();
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
      return result.then((value) => check(request, value, info), (error) => fail(request, error));
    }
    return check(request, result, info);
  };
  return { handler, requests: () => requests };
}
