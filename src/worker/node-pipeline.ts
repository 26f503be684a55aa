/**
 * What happens to a request of a Node-style app (Express, Koa, Fastify, a `(req, res)` listener): the
 * same stages, in the same order, as a Fetch app's (src/worker/pipeline.ts), on node:http's own
 * request and response.
 *
 * | stage | what it does |
 * | --- | --- |
 * | engine | node:http parses the request and checks its raw head (`RequestPolicy.checkWire`); a refusal never reaches here |
 * | health | `--health-path` (and PATH/live) answered by unicorn itself: not logged, not counted |
 * | stats | counts the request once the response is sent (or its connection lost) |
 * | access log | one line once the response is sent (or the connection lost), with the body bytes the engine counted |
 * | policy | applies a trusted proxy's headers (the socket then shows the client: `req.ip`, `ctx.ip`, `request.ip`), bounds a chunked body |
 * | guard | counts the request (`--max-requests`); a throw or a rejected promise answers 500 |
 * | request timeout | `--request-timeout`: 503 when the response has not started in time |
 * | hooks | `preRequest(worker, req)`, `postRequest(worker, req, res)` once the response is sent |
 * | app | the listener |
 */
import { callHook, type Hooks, type WorkerInfo } from "../config/hooks.ts";
import { stackOf } from "../errors.ts";
import type { AccessLog } from "../http/access-log.ts";
import { BodyLimitError, proxiedInfo, reasonPhrase, type RequestPolicy } from "../http/policy.ts";
import type { Rejection } from "../http/types.ts";
import type { Logger } from "../log/logger.ts";
import { healthReply } from "../http/health.ts";
import type { RequestStats } from "./stats.ts";
import type { EngineInfo, NodeEngineHandler, NodeListener, NodeRequest, NodeResponse, RemoteAddr } from "../runtime.ts";

/** What every request pipeline (Fetch or Node-style) is built from, besides the app. */
export interface StageParts {
  /** The worker's request counts, for the heartbeat, `unicorn ctl` and the metrics. */
  readonly stats: RequestStats;
  /** `--health-path`, answered before anything else; undefined for none. */
  readonly healthPath?: string;
  /** Whether the worker takes requests (not stopping): the health path's 200 or 503. */
  readonly ready: () => boolean;
  readonly hooks: Hooks;
  readonly worker: WorkerInfo;
  readonly log: Logger;
  readonly policy: RequestPolicy;
  /** The access log, when `--access-logfile` is set. */
  readonly accessLog?: AccessLog;
  /** `--request-timeout`, in seconds; 0 for none. */
  readonly requestTimeout: number;
  /** `--max-requests` (jitter applied): `onLimit` is called when the request of that number arrives. */
  readonly maxRequests: number;
  readonly onLimit: () => void;
}

/** What the Node-style pipeline is built from: the stages' parts, with a listener for the app. */
export interface NodePipelineParts extends StageParts {
  readonly app: NodeListener;
  /** Logs a refusal the way every refusal is logged. */
  readonly refused: (rejection: Rejection, peer: RemoteAddr) => void;
}

/** A built Node-style pipeline. */
export interface NodePipeline {
  readonly handler: NodeEngineHandler;
  readonly requests: () => number;
}

const ERROR_BODY = "Internal Server Error\n";

/** A short plain answer that ends the connection; false when the response has already started. */
function answer(res: NodeResponse, status: number, body: string, close: boolean): boolean {
  if (res.headersSent || res.writableEnded) return false;
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "content-length": String(body.length) };
  if (close) headers.connection = "close";
  res.writeHead(status, headers);
  res.end(body);
  return true;
}

/** A response's status, or 499 (nginx's "client closed the request") when the client left before it was sent. */
function statusOf(res: NodeResponse): number {
  return res.writableFinished ? res.statusCode : 499;
}

/** A header of a node:http request, as the access log reads it. */
function headerOf(req: NodeRequest, name: string): string | null {
  const value = req.headers[name.toLowerCase()];
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}

/** Writes the access-log line once the response is sent (or its connection lost), with the body bytes the engine counted. */
function logWhenDone(accessLog: AccessLog, req: NodeRequest, res: NodeResponse, peer: string, client: () => string, whenSent: EngineInfo["whenSent"]): void {
  const started = new Date();
  const t0 = performance.now();
  const method = req.method ?? "-";
  const target = req.url ?? "-";
  const line = (bytes: number | undefined) =>
    accessLog.write({
      request: { method, target, header: (name) => headerOf(req, name) },
      status: statusOf(res),
      responseHeader: (name) => {
        const value = res.getHeader(name);
        return value === undefined ? null : Array.isArray(value) ? value.join(", ") : String(value);
      },
      remote: client(),
      peer,
      bytes,
      started,
      durationMs: performance.now() - t0,
      protocol: `HTTP/${req.httpVersion}`,
    });
  if (whenSent) return whenSent(line);
  let done = false;
  const once = () => done || ((done = true), line(undefined));
  res.once("finish", once);
  res.once("close", once);
}

/**
 * Bounds a chunked body by --limit-request-body: past the limit the app's read fails, and the client
 * gets 413 if no answer has started. node:http's parser hands each body chunk to `req.push`.
 */
function boundBody(req: NodeRequest, res: NodeResponse, limit: number, onOver: () => void): void {
  const target = req as NodeRequest & { push(chunk: unknown, encoding?: unknown): boolean };
  const push = target.push;
  let seen = 0;
  target.push = function (this: unknown, chunk: unknown, encoding?: unknown) {
    if (chunk !== null && seen <= limit) {
      seen += (chunk as { byteLength?: number }).byteLength ?? 0;
      if (seen > limit) {
        onOver();
        const error = new BodyLimitError(limit);
        // The answer first: destroying an unfinished request ends its connection.
        if (answer(res, 413, `${reasonPhrase(413)}\n`, true)) {
          res.once("finish", () => req.destroy(error));
          res.once("close", () => req.destroy(error));
        } else req.destroy(error);
        return false;
      }
    }
    if (seen > limit) return false;
    return push.call(this, chunk, encoding);
  };
}

/** Builds the Node-style pipeline in the order the table above gives. */
export function buildNodePipeline(parts: NodePipelineParts): NodePipeline {
  const { app, hooks, worker, log, policy, accessLog, refused } = parts;
  const limit = parts.maxRequests || -1;
  const bodyLimit = policy.settings.limitRequestBody;
  const timeoutMs = parts.requestTimeout * 1000;
  const { preRequest, postRequest } = hooks;
  let requests = 0;

  const fail = (req: NodeRequest, res: NodeResponse, error: unknown) => {
    log.error(`Error handling request ${req.method} ${(req.url ?? "").split("?")[0]}: ${stackOf(error)}`);
    if (!answer(res, 500, ERROR_BODY, false)) res.destroy();
  };
  const run = (req: NodeRequest, res: NodeResponse) => {
    try {
      const result = app(req, res) as unknown;
      if (result instanceof Promise) result.catch((error: unknown) => fail(req, res, error));
    } catch (error) {
      fail(req, res, error);
    }
  };
  const hooked = !preRequest && !postRequest ? run : (req: NodeRequest, res: NodeResponse) => {
    const call = async () => {
      if (preRequest) await callHook(hooks, "preRequest", log, worker, req as never);
      if (postRequest) res.once("finish", () => void callHook(hooks, "postRequest", log, worker, req as never, res as never));
      run(req, res);
    };
    void call();
  };

  const { stats, healthPath, ready } = parts;
  const handler: NodeEngineHandler = (req, res, info) => {
    if (healthPath) {
      const url = req.url ?? "";
      const q = url.indexOf("?");
      const reply = healthReply(q < 0 ? url : url.slice(0, q), healthPath, ready);
      if (reply) return void answer(res, reply.status, reply.body, false);
    }
    const t0 = stats.start();
    let ended = false;
    const end = () => ended || ((ended = true), stats.end(t0, req.method ?? "GET", statusOf(res)));
    res.once("finish", end);
    res.once("close", end);
    let served: EngineInfo = info;
    if (accessLog) {
      // Read now: once the client has gone, its socket no longer says who it was.
      const peer = info.remoteAddr.hostname;
      logWhenDone(accessLog, req, res, peer, () => (served === info ? peer : served.remoteAddr.hostname), info.whenSent?.bind(info));
    }
    const fields = info.wire?.fields;
    if (fields !== undefined) {
      if (fields.forwardedFor !== null || fields.forwarded !== null || fields.scheme !== null) {
        const decision = policy.proxied(fields, info);
        if (decision !== undefined) {
          if ("status" in decision) {
            refused(decision, info.remoteAddr);
            answer(res, decision.status, `${reasonPhrase(decision.status)}\n`, true);
            return;
          }
          info.expose?.(decision.client ?? info.remoteAddr, decision.secure);
          if (decision.client !== undefined) served = proxiedInfo(info, decision.client);
        }
      }
      if (bodyLimit > 0 && fields.transferEncoding !== null) {
        boundBody(req, res, bodyLimit, () => refused({ status: 413, reason: "the chunked body is larger than --limit-request-body" }, served.remoteAddr));
      }
    }
    if (++requests === limit) parts.onLimit();
    if (timeoutMs > 0) {
      const timer = setTimeout(() => {
        if (res.headersSent || res.writableEnded) return;
        log.warning(`Request timed out after ${parts.requestTimeout} s: ${req.method} ${(req.url ?? "").split("?")[0]}`);
        answer(res, 503, "Service Unavailable\n", true);
      }, timeoutMs);
      const clear = () => clearTimeout(timer);
      res.once("finish", clear);
      res.once("close", clear);
    }
    hooked(req, res);
  };
  return { handler, requests: () => requests };
}
