/**
 * What happens to a request in a worker, in this order, on every engine and for every kind of app:
 *
 * | stage | what it does |
 * | --- | --- |
 * | engine | parses the request; the node:http engine also checks its raw head (`RequestPolicy.checkWire`) and answers a refusal itself, reporting it to `refusedOnWire` |
 * | health | `--health-path` (and PATH/live) answered by unicorn itself: not logged, not counted |
 * | stats | counts the request: in flight, then by method, status class and duration (heartbeat, metrics) |
 * | access log | one line per answered request, refusals included (`--access-logfile`) |
 * | policy | refuses what a native engine's Request shows to break the limits or HTTP/1.1 (400, 413, 414, 431, 501, 505), applies a trusted proxy's headers, bounds a chunked body |
 * | guard | counts the request (`--max-requests`); a throw or a value that is not a Response answers 500 |
 * | request timeout | `--request-timeout`: 503 when the app takes longer |
 * | hooks | `preRequest`, `postRequest` |
 * | app | the Fetch handler |
 *
 * A Node-style app (Express, Koa, Fastify, `(req, res)`) goes through the same stages on node:http's own
 * request and response: src/worker/node-pipeline.ts.
 *
 * A refusal is logged one way wherever it is made: a line in the access log (with its status) and,
 * at debug level, `Refused a request from ADDR: STATUS, reason` in the error log. A stage that
 * costs nothing when its setting is off is not there at all. New stages (metrics, a health path,
 * Node-style apps) go in this list, not into the engines.
 */
import { callHook, type Hooks, type WorkerInfo } from "../config/hooks.ts";
import { type AccessEntry, targetOf } from "../http/access-log.ts";
import { guardApp } from "../http/app-handler.ts";
import { reasonPhrase } from "../http/policy.ts";
import { withRequestTimeout } from "../http/request-timeout.ts";
import type { Rejection } from "../http/types.ts";
import type { Logger } from "../log/logger.ts";
import type { EngineHandler, FetchHandler, RemoteAddr, ServedApp, WireHead } from "../runtime.ts";
import { healthReply, markHealth } from "../http/health.ts";
import type { ServableApp } from "./app-loader.ts";
import type { RequestStats } from "./stats.ts";
import { buildNodePipeline, type StageParts } from "./node-pipeline.ts";

/** What the pipeline is built from: the stages' parts, and the app. */
export interface PipelineParts extends StageParts {
  readonly app: ServableApp;
}

/** A built pipeline: what engines call, and what the worker reads. */
export interface Pipeline {
  readonly served: ServedApp;
  /** A request an engine refused from its raw head (or could not parse): logged as any refusal is. */
  refusedOnWire(rejection: Rejection, head: WireHead | undefined, peer: RemoteAddr): void;
  /** A handshake an engine handed to the app's `upgrade` listeners: logged and counted with the app's answer. */
  upgradedOnWire(head: WireHead, peer: RemoteAddr, status: number): void;
  /** Requests the app has been given so far, for the heartbeat. */
  readonly requests: () => number;
}

/** Wraps the app with the preRequest and postRequest hooks, when the config has them. */
function withRequestHooks(app: FetchHandler, hooks: Hooks, worker: WorkerInfo, log: Logger): FetchHandler {
  const { preRequest, postRequest } = hooks;
  if (!preRequest && !postRequest) return app;
  return async (request, info) => {
    if (preRequest) await callHook(hooks, "preRequest", log, worker, request);
    const response = await app(request, info);
    if (postRequest) await callHook(hooks, "postRequest", log, worker, request, response);
    return response;
  };
}

/** Counts each request: in flight, then answered, by method, status class and duration. */
export function counted(next: EngineHandler, stats: RequestStats): EngineHandler {
  return (request, info) => {
    const t0 = stats.start();
    const result = next(request, info);
    if (result instanceof Promise) {
      return result.then(
        (response) => (stats.end(t0, request.method, response.status), response),
        (error: unknown) => {
          stats.end(t0, request.method, 500);
          throw error;
        },
      );
    }
    stats.end(t0, request.method, result.status);
    return result;
  };
}

/** The path of an absolute URL, without parsing it. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

function withHealth(next: EngineHandler, healthPath: string | undefined, ready: () => boolean): EngineHandler {
  if (!healthPath) return next;
  return (request, info) => {
    const reply = healthReply(pathOf(request.url), healthPath, ready);
    if (reply === undefined) return next(request, info);
    return markHealth(new Response(reply.body, {
      status: reply.status,
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
    }));
  };
}

/** A field of a raw head, by name (the first), for the access log. */
function rawHeader(head: WireHead | undefined, name: string): string | null {
  const raw = head?.rawHeaders ?? [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1]!;
  return null;
}

/** Builds the pipeline in the order the table above gives. */
export function buildPipeline(parts: PipelineParts): Pipeline {
  const { log, accessLog, app, stats } = parts;
  const refused = (rejection: Rejection, peer: RemoteAddr) => {
    stats.refused(rejection.status);
    log.debug(`Refused a request from ${peer.hostname || peer.transport}: ${rejection.status}, ${rejection.reason}`);
  };
  let served: ServedApp;
  let requests: () => number;
  if (app.interface === "node") {
    const node = buildNodePipeline({ ...parts, app: app.listener, refused });
    served = {
      interface: "node",
      handler: node.handler,
      ...(app.upgrade ? { upgrade: app.upgrade } : {}),
      ...(app.http2 ? { http2: true } : {}),
    };
    requests = node.requests;
  } else {
    const hooked = withRequestHooks(app.handler, parts.hooks, parts.worker, log);
    const timed = withRequestTimeout(hooked, parts.requestTimeout, log);
    const guarded = guardApp(timed, log, { limit: parts.maxRequests, onLimit: parts.onLimit });
    const checked = parts.policy.wrap(guarded.handler, (rejection, _request, info) => refused(rejection, info.remoteAddr));
    const logged = accessLog ? accessLog.wrap(checked) : checked;
    served = {
      interface: "fetch",
      handler: withHealth(counted(logged, stats), parts.healthPath, parts.ready),
      ...(app.websocket ? { websocket: app.websocket } : {}),
    };
    requests = guarded.requests;
  }
  /** The access-log entry of a request an engine answered from its raw head. */
  const wireEntry = (head: WireHead | undefined, status: number, peer: RemoteAddr, length: string | null): Omit<AccessEntry, "pid"> => ({
    request: {
      method: head?.method ?? "-",
      target: head === undefined ? "-" : /^https?:\/\//i.test(head.target) ? targetOf(head.target) : head.target,
      header: (name) => rawHeader(head, name.toLowerCase()),
    },
    status,
    responseHeader: (name) => (name.toLowerCase() === "content-length" ? length : null),
    remote: peer.hostname,
    peer: peer.hostname,
    started: new Date(),
    durationMs: 0,
    protocol: head ? `HTTP/${head.version}` : "-",
  });
  return {
    served,
    requests,
    refusedOnWire(rejection, head, peer) {
      refused(rejection, peer);
      // The engine answers it as every refusal is answered: the reason phrase and a newline.
      accessLog?.write(wireEntry(head, rejection.status, peer, String(reasonPhrase(rejection.status).length + 1)));
    },
    upgradedOnWire(head, peer, status) {
      stats.end(stats.start(), head.method, status);
      accessLog?.write(wireEntry(head, status, peer, null));
    },
  };
}
