/**
 * `--request-timeout`: a request whose response has not started after this
 * long is answered 503 and the worker goes on serving. The app's own work is
 * not cancelled (JavaScript cannot stop a promise); its late answer is dropped.
 */
import type { Logger } from "../log/logger.ts";
import type { FetchHandler } from "../runtime.ts";

/** Returns `handler` as it is when `seconds` is 0, so the default costs nothing per request. */
export function withRequestTimeout(handler: FetchHandler, seconds: number, log: Logger): FetchHandler {
  if (seconds <= 0) return handler;
  const ms = seconds * 1000;
  return (request, info) => {
    const result = handler(request, info);
    if (!(result instanceof Promise)) return result;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<Response>((resolve) => {
      timer = setTimeout(() => {
        log.warning(`Request timed out after ${seconds} s: ${request.method} ${new URL(request.url).pathname}`);
        resolve(new Response("Service Unavailable\n", {
          status: 503,
          headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
        }));
      }, ms);
    });
    return Promise.race([result, timeout]).finally(() => clearTimeout(timer));
  };
}
