/** The native engine on Bun: Bun.serve on an SO_REUSEPORT socket per worker. */
import fs from "node:fs";
import { createSocket, isWebSocketHandshake, notAHandshake, type SocketControl, type SocketLink, type Upgraded, type UpgradeOptions, setUpgrader, upgradeResponse } from "../../src/http/websocket.ts";
import { connInfoOf, socketAddress } from "../../src/http/client.ts";
import type { EngineInfo, HttpServer, ServedApp, ServeListener, ServeOptions } from "../../src/runtime.ts";
import type { HttpSettings } from "../../src/http/types.ts";
import { NativeDrain } from "../_shared/native-drain.ts";
import { serveNodeHttp } from "../_shared/node-http.ts";

interface BunServer {
  requestIP(request: Request): { address: string; port: number; family: string } | null;
  /** Takes the request's connection over as a WebSocket (the `websocket` handlers of Bun.serve's options). */
  upgrade(request: Request, options?: unknown): boolean;
  /** The idle timeout of this request's connection, in seconds; 0 for none. */
  timeout(request: Request, seconds: number): void;
  stop(closeActiveConnections?: boolean): Promise<void>;
  /** Sends to every WebSocket subscribed to `topic`. */
  publish(topic: string, data: string | ArrayBufferView | ArrayBuffer, compress?: boolean): number;
  subscriberCount(topic: string): number;
}
interface BunServeOptions {
  hostname: string;
  port: number;
  reusePort: boolean;
  development: boolean;
  idleTimeout: number;
  maxRequestBodySize: number;
  tls?: Record<string, unknown>;
  websocket?: unknown;
  fetch(request: Request, server: BunServer): Response | Promise<Response> | undefined | Promise<Response | undefined>;
  error(error: Error): Response;
}
const REQUEST = Symbol("request");
const BUN = Symbol("bun");
const SELF = Symbol("self");
const UPGRADED = Symbol("upgraded");

const Bun = (globalThis as unknown as {
  Bun: { serve(options: BunServeOptions): BunServer; file(path: string): unknown };
}).Bun;

/**
 * The app's second argument on Bun: the client address, plus the server as Hono's Bun helpers expect.
 * No `connection`: Bun.serve closes a connection after a refusal's `Connection: close`, so nothing
 * follows a refusal there, and keying by address and port wrongly refused a new connection that
 * reused a closed one's port within the memory's 10 s (a flaky corpus case under load).
 */
class BunConnInfo implements EngineInfo {
  /** Set for a request without Host: Bun.serve refuses HTTP/1.1 without one itself, so it is HTTP/1.0. */
  httpVersion: string | undefined;
  // Symbol-keyed, not private (#) fields: a trusted proxy's info is an Object.create of this one, and
  // reaches them, and the upgrade state, through its prototype. No closure per request.
  readonly [REQUEST]: Request;
  readonly [BUN]: BunServer;
  readonly [SELF]: BunConnInfo;
  [UPGRADED] = false;
  constructor(request: Request, bun: BunServer) {
    this[REQUEST] = request;
    this[BUN] = bun;
    this[SELF] = this;
  }
  /**
   * The server as Hono's Bun helpers (getConnInfo) see it: its requestIP gives the client unicorn decided.
   * Looked up when read, not per request: few apps read it.
   */
  get server(): BunServer {
    const bun = this[BUN];
    let view = views.get(bun);
    if (view === undefined) views.set(bun, view = serverView(bun));
    return view;
  }
  /**
   * `server.upgrade(request, options)` as Bun's own apps call it on their second argument, always on the
   * request Bun made (the app may hold one the policy rebuilt).
   */
  upgrade(_request?: Request, options?: unknown): boolean {
    const self = this[SELF];
    return (self[UPGRADED] ||= self[BUN].upgrade(self[REQUEST], options));
  }
  get upgraded(): boolean {
    return this[SELF][UPGRADED];
  }
  get remoteAddr(): EngineInfo["remoteAddr"] {
    const ip = this[BUN].requestIP(this[REQUEST]);
    return { transport: "tcp", hostname: ip?.address ?? "", port: ip?.port ?? 0 };
  }
  // What Bun's own apps call on their second argument, the server (`fetch(request, server)`), besides
  // upgrade: the client unicorn decided, a request's timeout, the WebSocket topics.
  requestIP(request: Request): ReturnType<BunServer["requestIP"]> {
    return this.server.requestIP(request);
  }
  timeout(_request: Request, seconds: number): void {
    this[BUN].timeout(this[SELF][REQUEST], seconds);
  }
  publish(topic: string, data: string | ArrayBufferView | ArrayBuffer, compress?: boolean): number {
    return this[BUN].publish(topic, data, compress);
  }
  subscriberCount(topic: string): number {
    return this[BUN].subscriberCount(topic);
  }
}

/** Each server's view ({@linkcode serverView}), made the first time an app reads `info.server`. */
const views = new WeakMap<BunServer, BunServer>();

/**
 * Bun's server with `requestIP` answering what unicorn decided (a trusted proxy's client); everything
 * else is the server's own, called on the server itself (Bun's methods check their receiver).
 */
function serverView(bun: BunServer): BunServer {
  const requestIP = (request: Request) => {
    const info = connInfoOf(request);
    return info ? socketAddress(info.remoteAddr) : bun.requestIP(request);
  };
  // Hono's upgradeWebSocket (hono/bun) calls the server's upgrade with the request it was given.
  const upgrade = (request: Request, options?: unknown) => {
    const info = connInfoOf(request) as BunConnInfo | undefined;
    return info?.upgrade ? info.upgrade(request, options) : bun.upgrade(request, options);
  };
  return new Proxy(bun, {
    get(target, key) {
      if (key === "requestIP") return requestIP;
      if (key === "upgrade") return upgrade;
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

interface ServerWebSocket {
  close(code?: number, reason?: string): void;
  send(data: string | ArrayBuffer | Uint8Array): number;
  getBufferedAmount(): number;
  readonly data: { [SOCKET]?: SocketControl } | undefined;
}

/** Where a socket of unicorn's upgradeWebSocket keeps its control, in Bun's `ws.data`. */
const SOCKET = Symbol("unicorn.socket");

/** Bun's socket as the link under one of unicorn's sockets. */
function linkOf(ws: ServerWebSocket): SocketLink {
  return {
    send: (data) => void ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.getBufferedAmount();
    },
  };
}

/** Bun's longest WebSocket idle timeout, in seconds. */
const BUN_MAX_IDLE = 960;

/**
 * The app's WebSocket handlers, noting which sockets are open: a drain closes them with 1001 (going
 * away), as Deno.serve's shutdown does; Bun.serve's stop leaves them open until --graceful-timeout.
 * unicorn's limits are the defaults of Bun's options (pings after half the idle timeout, the close at
 * it; 1009 past the largest message); an app that sets Bun's own keeps them.
 */
function tracked(handlers: unknown, open: Set<ServerWebSocket>, settings: HttpSettings, count?: (delta: number) => void): unknown {
  const app = handlers as {
    open?(ws: ServerWebSocket): unknown;
    message?(ws: ServerWebSocket, message: string | Uint8Array): unknown;
    close?(ws: ServerWebSocket, code: number, reason: string): unknown;
    idleTimeout?: number;
    maxPayloadLength?: number;
  };
  const limits: Record<string, unknown> = {};
  if (app.idleTimeout === undefined) limits.idleTimeout = Math.min(BUN_MAX_IDLE, Math.ceil(settings.websocketIdleTimeout));
  if (app.maxPayloadLength === undefined && settings.websocketMaxMessage > 0) limits.maxPayloadLength = settings.websocketMaxMessage;
  return Object.assign(Object.create(app) as object, limits, {
    // A socket of unicorn's upgradeWebSocket goes to its own control; any other, to the app's handlers.
    open(ws: ServerWebSocket) {
      open.add(ws);
      count?.(1);
      const control = ws.data?.[SOCKET];
      return control ? control.opened(linkOf(ws)) : app.open?.(ws);
    },
    message(ws: ServerWebSocket, message: string | Uint8Array) {
      const control = ws.data?.[SOCKET];
      if (!control) return app.message?.(ws, message);
      control.message(typeof message === "string" ? message : Uint8Array.prototype.slice.call(message).buffer as ArrayBuffer);
    },
    close(ws: ServerWebSocket, code: number, reason: string) {
      if (open.delete(ws)) count?.(-1);
      const control = ws.data?.[SOCKET];
      return control ? control.closed(code, reason) : app.close?.(ws, code, reason);
    },
  });
}

/** unicorn's upgradeWebSocket on Bun.serve: Bun's `server.upgrade`, the socket's events from unicorn's handlers. */
function bunUpgrader(request: Request, options?: UpgradeOptions): Upgraded {
  const info = connInfoOf(request) as BunConnInfo | undefined;
  if (!info?.upgrade || !isWebSocketHandshake(request)) throw notAHandshake();
  const control = createSocket(request.url, options?.protocol);
  const headers = options?.protocol ? { "Sec-WebSocket-Protocol": options.protocol } : undefined;
  if (!info.upgrade(request, { data: { [SOCKET]: control }, headers })) throw notAHandshake();
  return { socket: control.socket, response: upgradeResponse() };
}

/** Bun.serve's TLS options from unicorn's (Bun reads the files). */
function tlsOptions(tls: NonNullable<ServeOptions["policy"]["settings"]["tls"]>): Record<string, unknown> {
  return {
    cert: Bun.file(tls.certfile),
    key: Bun.file(tls.keyfile),
    ...(tls.caCerts ? { ca: Bun.file(tls.caCerts) } : {}),
    requestCert: tls.certReqs !== "none",
    rejectUnauthorized: tls.certReqs === "required",
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
  };
}


/** Descriptors that must be free before a paused listener listens again. */
const RESUME_SPARE = 16;

/** Whether `count` descriptors can be opened now (they are closed again at once). */
function descriptorsToSpare(count: number): boolean {
  const opened: number[] = [];
  try {
    for (let i = 0; i < count; i++) opened.push(fs.openSync("/dev/null", "r"));
    return true;
  } catch {
    return false;
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
}

export function serve(
  app: ServedApp,
  listeners: readonly ServeListener[],
  options: ServeOptions,
): Promise<HttpServer> {
  const settings = options.policy.settings;
  // Bun's node:http takes no reusePort: node:net listens and hands it each connection.
  if (settings.engine === "node" || app.interface === "node") return serveNodeHttp(app, listeners, options, "net");
  const handler = app.handler;
  const sockets = new Set<ServerWebSocket>();
  // Always there: unicorn's upgradeWebSocket needs handlers even when the app exports none.
  const websocket = tracked(app.websocket ?? {}, sockets, settings, options.onWebSocket);
  setUpgrader(bunUpgrader);
  const drain = new NativeDrain();
  const bodyTimeout = settings.bodyTimeout === settings.keepAlive ? undefined : Math.min(255, settings.bodyTimeout);
  const serveOptions = listeners.map((listener): BunServeOptions => {
    if (listener.kind !== "reuse-port") throw new Error("Bun.serve cannot serve an inherited socket");
    // An HTTP/1.0 request without Host reaches the app with a URL built from the listener's address.
    const origin = `${settings.tls ? "https" : "http"}://${listener.host.includes(":") ? `[${listener.host}]` : listener.host}:${listener.port}`;
    return {
      hostname: listener.host,
      port: listener.port,
      reusePort: true,
      // Without it Bun answers an error with a page of source code and paths.
      development: false,
      // Bun's one idle timer covers a kept-alive connection's wait (and a silent response); 255 s at most.
      idleTimeout: Math.min(255, settings.keepAlive),
      // Bun answers 413 itself past this; "no limit" lifts Bun's own 128 MiB default.
      maxRequestBodySize: settings.limitRequestBody > 0 ? settings.limitRequestBody : Number.MAX_SAFE_INTEGER,
      ...(settings.tls ? { tls: tlsOptions(settings.tls) } : {}),
      websocket,
      fetch(request, server) {
        // Bun's idle timer does not restart as a body arrives: a steady upload was cut at --keep-alive.
        // A request that may carry a body gets --body-timeout instead (0: none), Bun's bound on the whole request.
        if (bodyTimeout !== undefined) {
          const method = request.method;
          if (method !== "GET" && method !== "HEAD") server.timeout(request, bodyTimeout);
        }
        const info = new BunConnInfo(request, server);
        // Bun gives such a request its target alone as the URL ("/a"), which no URL parser takes.
        const url = request.url;
        if (url.charCodeAt(0) === 47) {
          request = new Request(origin + url, request);
          info.httpVersion = "1.0";
        }
        // After an upgrade Bun answers the handshake itself and ignores what fetch returns (measured).
        return drain.respond(handler(request, info));
      },
      error(error) {
        options.onError(error);
        return new Response("Internal Server Error\n", { status: 500 });
      },
    };
  });
  let servers = serveOptions.map((o) => Bun.serve(o));
  let paused = false;
  // Every stop, a pause's included: a drain waits until all of them have let their requests finish.
  const stopping: Promise<void>[] = [];
  return Promise.resolve({
    async drain() {
      await drain.quiet();
      if (!paused) stopping.push(...servers.map((server) => server.stop(false)));
      for (const ws of sockets) ws.close(1001, "Server shutting down");
      await Promise.all(stopping);
    },
    // Out of descriptors, Bun's accept loop retries without pause (a core at 100 %, measured): the
    // listener closes until descriptors are free again, then listens anew on the same port.
    pause() {
      if (paused || drain.draining) return;
      paused = true;
      stopping.push(...servers.map((server) => server.stop(false)));
    },
    resume() {
      // Only with room to spare: listening again with one descriptor free would spin again at once.
      if (!paused || drain.draining || !descriptorsToSpare(RESUME_SPARE)) return;
      const started: BunServer[] = [];
      try {
        for (const o of serveOptions) started.push(Bun.serve(o));
      } catch (error) {
        // Still short of something (descriptors, the port): stay paused, try again next tick.
        for (const server of started) stopping.push(server.stop(false));
        options.onError(error);
        return;
      }
      servers = started;
      paused = false;
    },
  });
}
