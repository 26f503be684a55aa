/**
 * The `node:http` engine: Node's parser (llhttp, strict by default) and its
 * timeouts, used by Node on the arbiter's sockets and by Deno on SO_REUSEPORT
 * sockets (Deno's node:http is Node's own code). The Request/Response bridge is
 * @hono/node-server's: it builds the Request lazily and writes simple Responses
 * without a stream, the cheapest bridge measured on Node (runtime-facts.md).
 *
 * Before the bridge runs, the core's policy checks the head as sent
 * (version, target, raw header fields); a refused request is answered here and
 * its connection closed, so nothing pipelined behind it reaches the app.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { getRequestListener } from "@hono/node-server";
import type { EngineInfo, HttpServer, RemoteAddr, ServedApp, ServeListener, ServeOptions, WireHead } from "../../src/runtime.ts";
import type { HttpSettings, Rejection, WireFields, WireVerdict } from "../../src/http/types.ts";
import { reasonPhrase } from "../../src/http/policy.ts";
import { acceptProxyHeader, type ProxiedSocket } from "./proxy-protocol.ts";
import { countSent } from "./sent.ts";
import { http2Engine } from "./node-http2.ts";
import { WebSocketGuard } from "./websocket-guard.ts";
import { answerRaw, NodeUpgrades, upgradeRequestOf } from "./node-websocket.ts";
import { connInfoOf } from "../../src/http/client.ts";
import { notAHandshake, setUpgrader, type Upgraded, type UpgradeOptions } from "../../src/http/websocket.ts";

const WIRE = Symbol("unicorn.wire");
type Checked = { readonly head: WireHead; readonly fields: WireFields };
type WithWire = http.IncomingMessage & { [WIRE]?: Checked };

/** How often a draining worker looks for idle connections to close, in ms. */
const DRAIN_POLL_MS = 100;
/** How long a draining worker's kept-alive connection must have been idle, reading nothing, before it is closed, in ms. */
const DRAIN_QUIET_MS = 1000;
/** How long a connection unicorn closed may wait for the client to close its end, in ms. */
const LINGER_MS = 1000;

/** The last response started on a socket: answers go out in order, so it is the last to finish. */
const LAST = Symbol("unicorn.last");
/**
 * What LAST holds once that response has finished: the connection was answered, and an idle kept-alive
 * connection keeps no request, response or bridge state alive (with the close listeners below, 2.7 KiB
 * of heap less per idle connection, on Node and on Deno: heap snapshots with 2,000 connections).
 */
const ANSWERED = { writableFinished: true, destroyed: false } as const;
/** A finished response lets go of its socket's LAST; one function for every response, no closure per request. */
function letGo(this: http.ServerResponse & { req?: http.IncomingMessage }): void {
  const socket = this.req?.socket as HttpSocket | undefined;
  if (socket?.[LAST] === this) socket[LAST] = ANSWERED;
}
/** Node's own link from a socket to the response it is writing; unset while the socket is idle. */
type HttpSocket = net.Socket & ProxiedSocket & {
  _httpMessage?: http.ServerResponse | null;
  [LAST]?: http.ServerResponse | typeof ANSWERED;
  [SHOWN]?: boolean;
  [PEER]?: RemoteAddr;
  [SAVED]?: { remoteAddress?: PropertyDescriptor; encrypted?: PropertyDescriptor };
};

/** The app's second argument: the client address plus Node's own objects, as Hono expects them. */
class NodeConnInfo implements EngineInfo {
  readonly incoming: http.IncomingMessage;
  readonly outgoing: http.ServerResponse;
  readonly wire: Checked;
  constructor(incoming: http.IncomingMessage, outgoing: http.ServerResponse, wire: Checked) {
    this.incoming = incoming;
    this.outgoing = outgoing;
    this.wire = wire;
  }
  get connection(): unknown {
    return this.incoming.socket;
  }
  get remoteAddr(): RemoteAddr {
    return clientOf(this.incoming.socket);
  }
  get proxy(): RemoteAddr | undefined {
    const socket = this.incoming.socket as HttpSocket;
    return socket.proxied ? peerOf(socket) : undefined;
  }
  expose(client: RemoteAddr, secure: boolean | undefined): void {
    show(this.incoming.socket as HttpSocket, client.hostname, secure);
  }
  whenSent(done: (bytes: number) => void): void {
    countSent(this.outgoing, this.incoming.method === "HEAD", done);
  }
}

/**
 * The app's second argument for a request that came on node:http's `upgrade` event (a WebSocket
 * handshake): the client as for any request, Node's request as Hono's node helpers expect it
 * (`incoming`; there is no response object), and the connection for unicorn's upgradeWebSocket.
 */
class UpgradeInfo implements EngineInfo {
  readonly incoming: http.IncomingMessage;
  readonly outgoing = undefined;
  readonly wire: Checked;
  readonly #socket: net.Socket;
  /**
   * Takes the connection over; an own property, so that the info a trusted proxy's client gets
   * (`Object.create` of this one) has it too.
   */
  readonly takeOver: (options?: UpgradeOptions) => Upgraded;
  declare readonly upgraded: boolean;
  constructor(req: http.IncomingMessage, socket: net.Socket, head: Buffer, wire: Checked, upgrades: NodeUpgrades, url: string) {
    this.incoming = req;
    this.wire = wire;
    this.#socket = socket;
    let upgraded = false;
    this.takeOver = (options) => {
      if (upgraded) throw new TypeError("upgradeWebSocket(): this request was upgraded already");
      const result = upgrades.takeOver(req, socket, head, url, options);
      upgraded = true;
      return result;
    };
    Object.defineProperty(this, "upgraded", { get: () => upgraded });
  }
  get connection(): unknown {
    return this.#socket;
  }
  get remoteAddr(): RemoteAddr {
    return clientOf(this.#socket);
  }
  get proxy(): RemoteAddr | undefined {
    const socket = this.#socket as HttpSocket;
    return socket.proxied ? peerOf(socket) : undefined;
  }
  expose(client: RemoteAddr, secure: boolean | undefined): void {
    show(this.#socket as HttpSocket, client.hostname, secure);
  }
}

function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  return String(req.headers.upgrade).toLowerCase() === "websocket";
}

function hasBody(req: http.IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

/** unicorn's upgradeWebSocket on node:http: the connection of the handshake the request came with. */
function nodeUpgrader(request: Request, options?: UpgradeOptions): Upgraded {
  const info = connInfoOf(request) as UpgradeInfo | undefined;
  if (!info?.takeOver) throw notAHandshake();
  return info.takeOver(options);
}

/** Whether a socket shows a client a proxy header named for the request in progress (`expose`). */
const SHOWN = Symbol("unicorn.shown");
/** The connection's own peer, kept before a request first shows another address. */
const PEER = Symbol("unicorn.peer");
/** The socket's own properties that showing a client shadows, to put back. */
const SAVED = Symbol("unicorn.saved");

/**
 * Makes the socket show `address` as its remoteAddress (and `encrypted` when the proxy said https), as
 * Express's req.ip, Koa's ctx.ip, Fastify's request.ip and Hono's getConnInfo read them. Own properties,
 * shadowing net.Socket's getters, for one request: the next request on the connection starts afresh.
 */
function show(socket: HttpSocket, address: string, secure: boolean | undefined): void {
  socket[PEER] ??= peerOf(socket);
  if (!socket[SHOWN]) {
    // What the socket holds as its own (a TLS socket's encrypted, a PROXY connection's source), put back after.
    socket[SAVED] = {
      remoteAddress: Object.getOwnPropertyDescriptor(socket, "remoteAddress"),
      encrypted: Object.getOwnPropertyDescriptor(socket, "encrypted"),
    };
  }
  socket[SHOWN] = true;
  Object.defineProperty(socket, "remoteAddress", { value: address, configurable: true, writable: true });
  if (secure === true) Object.defineProperty(socket, "encrypted", { value: true, configurable: true, writable: true });
}

/** Undoes {@linkcode show} at the start of the next request: the connection's own client and scheme again. */
function unshow(socket: HttpSocket): void {
  socket[SHOWN] = false;
  const saved = socket[SAVED];
  for (const name of ["remoteAddress", "encrypted"] as const) {
    const own = saved?.[name];
    if (own) Object.defineProperty(socket, name, own);
    else delete (socket as unknown as Record<string, unknown>)[name];
  }
}

/** The client of a connection: the one a PROXY header named, or the peer. */
function clientOf(socket: net.Socket): RemoteAddr {
  return (socket as HttpSocket).proxied?.source ?? peerOf(socket);
}

/** A parsed request's head, as the policy reads it. */
function wireHeadOf(req: http.IncomingMessage): WireHead {
  return { method: req.method ?? "-", target: req.url ?? "-", version: req.httpVersion, rawHeaders: req.rawHeaders };
}

function peerOf(socket: net.Socket): RemoteAddr {
  const { proxied, [PEER]: peer } = socket as HttpSocket;
  if (proxied) return proxied.peer;
  if (peer) return peer;
  if (socket.remoteAddress === undefined) return { transport: "unix", hostname: "", port: 0 };
  return { transport: "tcp", hostname: socket.remoteAddress, port: socket.remotePort ?? 0 };
}

/** A connection a PROXY header came on shows its source as remoteAddress and remotePort, for the app's helpers. */
function showProxied(socket: HttpSocket): void {
  const source = socket.proxied!.source;
  Object.defineProperty(socket, "remoteAddress", { value: source.hostname, configurable: true, writable: true });
  Object.defineProperty(socket, "remotePort", { value: source.port, configurable: true, writable: true });
}

function hasHost(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === "host") return true;
  return false;
}

/**
 * Ends a connection unicorn has given up on, and releases its descriptor even if the client never
 * closes its end: after our FIN, a socket waits for the peer's (FIN-WAIT-2) as long as the client
 * likes. What the client still sends meanwhile is read and dropped, so the close does not reset the
 * answer before the client has read it.
 */
function closeSoon(socket: net.Socket, data?: string): void {
  if (socket.destroyed) return;
  socket.resume();
  if (data === undefined) socket.end();
  else socket.end(data);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** A raw answer on a socket whose HTTP state cannot be trusted any more, then close. */
function answerAndClose(socket: net.Socket, status: number): void {
  if (!socket.writable) return void socket.destroy();
  const body = `${reasonPhrase(status)}\n`;
  closeSoon(
    socket,
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/** The status a parse error of llhttp (or a Node timeout) is answered with. */
function statusOfClientError(error: NodeJS.ErrnoException): number {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return 431;
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return 408;
    default:
      return 400;
  }
}

/** A parse error or a timeout, in words for the log. */
function describeClientError(error: NodeJS.ErrnoException): string {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") return "the request did not arrive in time (--header-timeout, --body-timeout)";
  if (error.code === "HPE_PAUSED_H2_UPGRADE") return "an HTTP/2 preface (h2c): taken only from peers in --forwarded-allow-ips, by apps served over HTTP/2";
  return `${error.code ?? "parse error"}: ${(error as { reason?: string }).reason ?? error.message}`;
}

/** The largest head the limits allow, so Node's own cap never refuses a request they accept. */
function maxHeaderSize(s: HttpSettings): number {
  if (s.limitRequestLine === 0 || s.limitRequestFields === 0 || s.limitRequestFieldSize === 0) return 1024 * 1024;
  return Math.max(16 * 1024, s.limitRequestLine + 2 + s.limitRequestFields * (s.limitRequestFieldSize + 2) + 2);
}

function serverOptions(s: HttpSettings): http.ServerOptions & https.ServerOptions {
  const headersTimeout = s.headerTimeout * 1000;
  const options: http.ServerOptions & https.ServerOptions = {
    maxHeaderSize: maxHeaderSize(s),
    keepAliveTimeout: s.keepAlive * 1000,
    headersTimeout,
    // The whole request, body included; Node requires it to be at least the head's deadline.
    requestTimeout: s.bodyTimeout > 0 ? Math.max(s.bodyTimeout * 1000, headersTimeout) : 0,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, headersTimeout / 4 || 1000)),
    requireHostHeader: true,
  };
  if (s.tls) {
    options.cert = fs.readFileSync(s.tls.certfile);
    options.key = fs.readFileSync(s.tls.keyfile);
    if (s.tls.caCerts) options.ca = fs.readFileSync(s.tls.caCerts);
    options.requestCert = s.tls.certReqs !== "none";
    options.rejectUnauthorized = s.tls.certReqs === "required";
    if (s.tls.ciphers) options.ciphers = s.tls.ciphers;
    options.minVersion = "TLSv1.2";
    // A client that never finishes its handshake (or never sends a ClientHello) waits no longer than
    // one that never finishes its head (Node's default is 120 s).
    if (headersTimeout > 0) options.handshakeTimeout = headersTimeout;
  }
  return options;
}

function listen(server: net.Server, listener: ServeListener, backlog: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if (listener.kind === "fd") server.listen({ fd: listener.fd, backlog }, done);
    // Deno's node:net takes Node 22's reusePort.
    else server.listen({ host: listener.host, port: listener.port, backlog, reusePort: true } as net.ListenOptions, done);
  });
}

/**
 * The longest-open kept-alive connection between requests: it has been answered at least once and has
 * no answer in progress (sets keep the order connections came in). A connection that has sent nothing
 * yet is not taken: --header-timeout bounds it.
 */
function oldestIdle(sockets: Set<HttpSocket>): HttpSocket | undefined {
  for (const socket of sockets) {
    if (!socket._httpMessage && socket[LAST]?.writableFinished && !socket.destroyed) return socket;
  }
  return undefined;
}

/** What the deadline watch knows of a connection, from node:http's own events. */
interface Watched {
  /** Requests whose response is not finished yet (pipelined ones included). */
  active: number;
  phase: "head" | "idle" | "busy";
  /** When the phase began, in ms. */
  since: number;
  /** bytesRead when the connection went idle: more means it has started a request. */
  bytes: number;
}
const WATCH = Symbol("unicorn.watch");
type WatchedSocket = HttpSocket & { [WATCH]?: Watched };

/**
 * Keeps node:http's deadlines on connections it did not accept itself: Bun's node:http applies none of
 * headersTimeout, requestTimeout and keepAliveTimeout to sockets handed to it (measured: a partial head,
 * a silent client and an idle kept-alive connection all stayed open). Each connection's phase follows
 * node:http's events (a request parsed, its response finished); a sweep, as often as Node's own
 * connections check, ends what overstayed: an expired head or body through the server's clientError
 * handling (408), an idle kept-alive connection by closing it.
 */
function watchDeadlines(server: http.Server, sockets: Set<HttpSocket>, s: HttpSettings): void {
  const head = s.headerTimeout * 1000;
  const body = s.bodyTimeout > 0 ? Math.max(s.bodyTimeout * 1000, head) : 0;
  const idle = s.keepAlive * 1000;
  const watched = (socket: WatchedSocket) => (socket[WATCH] ??= { active: 0, phase: "head", since: Date.now(), bytes: 0 });
  server.on("connection", (socket: WatchedSocket) => void watched(socket));
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket as WatchedSocket;
    const seen = watched(socket);
    if (seen.active++ === 0) Object.assign(seen, { phase: "busy", since: Date.now() });
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      if (--seen.active === 0) Object.assign(seen, { phase: "idle", since: Date.now(), bytes: socket.bytesRead });
    };
    res.once("finish", finished);
    res.once("close", finished);
  });
  const expire = (socket: HttpSocket, why: string) =>
    server.emit("clientError", Object.assign(new Error(why), { code: "ERR_HTTP_REQUEST_TIMEOUT" }), socket);
  const sweep = () => {
    const now = Date.now();
    for (const socket of sockets as Set<WatchedSocket>) {
      if (socket.destroyed) continue;
      const seen = watched(socket);
      if (seen.phase === "busy") {
        const req = (socket._httpMessage as (http.ServerResponse & { req?: http.IncomingMessage }) | null | undefined)?.req;
        if (body > 0 && req && !req.complete && now - seen.since > body) expire(socket, "the request did not arrive in time");
        continue;
      }
      // Bytes since the last response: the next request's head has begun.
      if (seen.phase === "idle" && socket.bytesRead !== seen.bytes) Object.assign(seen, { phase: "head", since: now });
      if (seen.phase === "idle" && idle > 0 && now - seen.since > idle) socket.destroy();
      else if (seen.phase === "head" && head > 0 && now - seen.since > head) expire(socket, "the request head did not arrive in time");
    }
  };
  setInterval(sweep, Math.max(100, Math.min(1000, (head || 4000) / 4))).unref();
}

/**
 * Reports a handshake handed to the app's upgrade listeners once the app answers it: the status of the
 * first bytes it writes on the socket (101, or the 400 or 401 of a handshake it refused).
 */
function logUpgrade(socket: net.Socket, head: WireHead, options: ServeOptions, accepted: () => void): void {
  const write = socket.write;
  socket.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    socket.write = write;
    const text = typeof chunk === "string" ? chunk.slice(0, 16) : Buffer.isBuffer(chunk) ? chunk.toString("latin1", 0, 16) : "";
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
    if (status) options.onUpgrade?.(head, clientOf(socket), Number(status));
    if (status === "101") accepted();
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof socket.write;
}

/** A Host for an HTTP/1.0 request that has none: the address it came to (IPv6 bracketed; a unix socket's "localhost"). */
function hostOf(socket: net.Socket): string {
  const address = socket.localAddress;
  if (!address || socket.localPort === undefined) return "localhost";
  return `${net.isIPv6(address) ? `[${address}]` : address}:${socket.localPort}`;
}

/** The app as node:http serves it: a Fetch app through @hono/node-server's bridge, a Node-style app as it is. */
function listenerOf(app: ServedApp): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  if (app.interface === "node") {
    const handler = app.handler;
    return (req, res) => handler(req as never, res as never, new NodeConnInfo(req, res, (req as WithWire)[WIRE]!));
  }
  const handler = app.handler;
  const bridge = getRequestListener(
    (request, env) => {
      const incoming = env.incoming as http.IncomingMessage;
      return handler(request, new NodeConnInfo(incoming, env.outgoing as http.ServerResponse, (incoming as WithWire)[WIRE]!));
    },
    { overrideGlobalObjects: true },
  );
  return (req, res) => void bridge(req, res);
}

/** How an engine listens: node:http itself, or (Bun, whose node:http takes no reusePort) node:net handing it connections. */
export type ListenVia = "http" | "net";

/** Serves `app` on each listener with node:http; one server per listener. */
export async function serveNodeHttp(
  app: ServedApp,
  listeners: readonly ServeListener[],
  options: ServeOptions,
  via: ListenVia = "http",
): Promise<HttpServer> {
  const settings = options.policy.settings;
  const dispatch = listenerOf(app);
  const refused = new WeakSet<net.Socket>();
  const refuse = (res: http.ServerResponse, rejection: Rejection, socket: net.Socket, head: WireHead) => {
    refused.add(socket);
    options.onRefused(rejection, head, clientOf(socket));
    const body = `${reasonPhrase(rejection.status)}\n`;
    res.writeHead(rejection.status, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(body.length),
      connection: "close",
    });
    res.end(body);
  };
  const check = (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const socket = req.socket as HttpSocket;
    socket[LAST] = res;
    if (socket[SHOWN]) unshow(socket);
    if (refused.has(socket)) {
      socket.destroy();
      return false;
    }
    const head: WireHead = { method: req.method!, target: req.url!, version: req.httpVersion, rawHeaders: req.rawHeaders };
    const verdict = options.policy.checkWire(head);
    if (verdict.rejection) {
      refuse(res, verdict.rejection, socket, head);
      return false;
    }
    // A property, not a WeakMap: a WeakMap entry per request costs the garbage collector dearly.
    (req as WithWire)[WIRE] = { head, fields: verdict.fields };
    // The bridge builds the URL from Host and the target: an HTTP/1.0 request may lack the one,
    // OPTIONS the other ("*" reaches the app as "/*", as Deno.serve gives it).
    // (req.headers is built lazily, on first read: read it only when the raw fields have no Host.)
    if (head.version === "1.0" && !hasHost(head.rawHeaders)) req.headers.host = hostOf(socket);
    if (req.url === "*") req.url = "/*";
    return true;
  };
  const sockets = new Set<HttpSocket>();
  /** Connections the app took over (WebSockets): unicorn's limits on them; a drain says going away (1001) and closes them. */
  const upgraded = new WebSocketGuard(settings, options.onWebSocket);
  const upgrades = new NodeUpgrades(settings, upgraded);
  if (app.interface === "fetch") setUpgrader(nodeUpgrader);
  // No per-request bookkeeping while serving: the drain reads Node's own socket state instead.
  /**
   * A pipelined request (sent before the answer to the one ahead of it) is taken up once that answer is
   * sent: answers go out in order anyway, and the socket then shows each request's client only while that
   * request is served (a trusted proxy's client shown for one would otherwise change under the other).
   */
  const serveInTurn = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket as HttpSocket;
    const ahead = socket[LAST];
    // The last answer on the socket at once, so that a parse error later waits for it (clientError).
    socket[LAST] = res;
    res.on("finish", letGo);
    if (ahead === undefined || ahead === ANSWERED || ahead.writableFinished || ahead.destroyed) {
      if (check(req, res)) dispatch(req, res);
      return;
    }
    let started = false;
    const next = () => {
      if (started) return;
      started = true;
      if (!req.socket.destroyed && check(req, res)) dispatch(req, res);
    };
    ahead.once("finish", next);
    ahead.once("close", next);
  };
  const onRequest = serveInTurn;
  const onDrainingRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.shouldKeepAlive = false;
    serveInTurn(req, res);
  };

  const servers: http.Server[] = [];
  /** What accepts connections: the http servers, or the net servers in front of them. */
  const acceptors: net.Server[] = [];
  let open = 0;
  let accepted = 0;
  // Per server, not per connection: a closure and a once() wrapper per socket add up over idle connections.
  const closed = () => void open--;
  const forget = function (this: HttpSocket) {
    sockets.delete(this);
  };
  // HTTP/2 (node-http2.ts): h2 by ALPN over TLS, h2c from trusted peers; undefined for an app kept to HTTP/1.1.
  const h2 = http2Engine(app, options);
  for (const listener of listeners) {
    // Through node:net (Bun), TLS is the front server's: node:http gets the sockets once decrypted.
    const tlsHere = settings.tls !== null && via === "http";
    const server = tlsHere
      ? https.createServer({ ...serverOptions(settings), ...h2?.tlsOptions }, onRequest)
      : http.createServer(serverOptions(settings), onRequest);
    // The cap is kept here rather than by server.maxConnections, which Deno's node:net ignores.
    // At the cap, a client with a request to make is preferred to one that is idle: the oldest idle
    // kept-alive connection is closed to admit the new one (as nginx does when it runs short).
    const admit = (socket: net.Socket) => {
      accepted++;
      if (open >= settings.workerConnections) {
        const idle = oldestIdle(sockets) ?? (h2?.idleSocket() as HttpSocket | undefined);
        if (!idle) return void socket.destroy();
        // At once, not after a linger: its descriptor is the one the newcomer takes.
        sockets.delete(idle);
        idle.destroy();
      }
      open++;
      socket.on("close", closed);
    };
    server.on("connection", admit);
    // A TLS server's requests run on the TLS socket, not the TCP one under it.
    server.on(tlsHere ? "secureConnection" : "connection", (socket: HttpSocket) => {
      if (socket.destroyed) return;
      sockets.add(socket);
      socket.on("close", forget);
    });
    // HTTP/2 connections leave node:http's listeners (and the drain's sockets) for node-http2.ts's sessions.
    h2?.attach(server, tlsHere ? "secureConnection" : "connection", admit);
    if (settings.proxyProtocol !== "off" && !settings.tls) {
      acceptProxyHeader(server, settings, (socket, error) => {
        options.onRefused({ status: 400, reason: error }, undefined, peerOf(socket));
        answerAndClose(socket, 400);
      }, showProxied);
    }
    if (app.interface === "fetch") {
      // A request with Upgrade (a WebSocket handshake) goes through the app's pipeline as any request;
      // the app takes it over with upgradeWebSocket, or its answer is written and the connection closed.
      const handler = app.handler;
      const scheme = settings.tls ? "https" : "http";
      // Node 24.9 and later: any other Upgrade (h2c) is served as a plain request. Before, it comes here.
      (server as { shouldUpgradeCallback?: (req: http.IncomingMessage) => boolean }).shouldUpgradeCallback = isWebSocketUpgrade;
      server.on("upgrade", (req: http.IncomingMessage, socket: HttpSocket, head: Buffer) => {
        const wire = wireHeadOf(req);
        // After an upgrade node:http reads no body: one it would have to is refused (Node before 24.9, not a WebSocket).
        const verdict: WireVerdict = hasBody(req)
          ? { rejection: { status: 400, reason: "a request with Upgrade and a body" } }
          : options.policy.checkWire(wire);
        if (verdict.rejection) {
          options.onRefused(verdict.rejection, wire, clientOf(socket));
          return answerAndClose(socket, verdict.rejection.status);
        }
        if (socket[SHOWN]) unshow(socket);
        sockets.delete(socket);
        upgraded.watch(socket, { limitMessages: false });
        const origin = `${scheme}://${req.headers.host ?? hostOf(socket)}`;
        const serve = async () => {
          if (isWebSocketUpgrade(req)) await upgrades.ready();
          const info = new UpgradeInfo(req, socket, head, { head: wire, fields: verdict.fields }, upgrades, `${origin}${req.url}`);
          const response = await handler(upgradeRequestOf(req, origin), info);
          if (!info.upgraded) await answerRaw(socket, response, wire.method, closeSoon);
        };
        serve().catch((error: unknown) => {
          options.onError(error);
          answerAndClose(socket, 400);
        });
      });
    }
    if (app.interface === "node" && app.upgrade) {
      const upgrade = app.upgrade;
      // A WebSocket handshake (any Upgrade) goes to the app's upgrade listeners once the policy has read
      // its head as it reads a request's; the connection is the app's from then on.
      server.on("upgrade", (req: http.IncomingMessage, socket: HttpSocket, head: Buffer) => {
        const wire = wireHeadOf(req);
        const verdict = options.policy.checkWire(wire);
        if (verdict.rejection) {
          options.onRefused(verdict.rejection, wire, clientOf(socket));
          return answerAndClose(socket, verdict.rejection.status);
        }
        // Logged once the app has answered (ws writes its 101 in the same tick, or later after async checks).
        upgraded.watch(socket, { limitMessages: true });
        logUpgrade(socket, wire, options, () => upgraded.accepted(socket));
        sockets.delete(socket);
        try {
          upgrade(req as never, socket, head);
        } catch (error) {
          options.onError(error);
          socket.destroy();
        }
      });
    }
    // Node hands CONNECT to a "connect" listener, or drops the socket without a word.
    server.on("connect", (req: http.IncomingMessage, socket: net.Socket) => {
      options.onRefused({ status: 501, reason: "CONNECT is not supported" }, wireHeadOf(req), clientOf(socket));
      answerAndClose(socket, 501);
    });
    server.on("clientError", (error: NodeJS.ErrnoException, socket: HttpSocket) => {
      options.onError(error);
      // A TLS failure is no HTTP request: nothing to answer in a session that never started.
      if (error.code === "ECONNRESET" || !socket.writable || /^ERR_(TLS|SSL)_/.test(error.code ?? "")) {
        return void socket.destroy();
      }
      const last = socket[LAST];
      const pending = last && last !== ANSWERED && !last.writableFinished && !last.destroyed ? last : undefined;
      // llhttp repeats its error for every later chunk (and a timeout may follow): the first call decided.
      if (refused.has(socket)) return pending ? undefined : void closeSoon(socket);
      refused.add(socket);
      // Bytes after a request that closes the connection (Connection: close, HTTP/1.0) are not a
      // request: they are neither parsed nor refused. Anything else gets 400 (or 408, 431).
      const status = error.code === "HPE_CLOSED_CONNECTION" ? undefined : statusOfClientError(error);
      if (status !== undefined) options.onRefused({ status, reason: describeClientError(error) }, undefined, clientOf(socket));
      const answer = () => (status === undefined ? closeSoon(socket) : answerAndClose(socket, status));
      if (!pending) return answer();
      const request = (pending as http.ServerResponse & { req?: http.IncomingMessage }).req;
      if (status !== undefined && request && !request.complete) {
        // The fault is in the body of the request in flight (it stopped coming: --body-timeout; or a
        // malformed chunk): the app's read of it fails now, the client gets the status if nothing of
        // an answer went out yet, and the connection ends. (Destroying an unfinished request
        // destroys its socket: the answer goes out first.)
        const why = status === 408 ? "The request body timed out (--body-timeout)" : `The request body is malformed (${describeClientError(error)})`;
        const stop = () => request.destroy(Object.assign(new Error(why), { code: status === 408 ? "ERR_BODY_TIMEOUT" : "ERR_BODY_MALFORMED" }));
        pending.on("error", () => {});
        if (pending.headersSent) return stop();
        answerAndClose(socket, status);
        socket.once("finish", stop);
        socket.once("close", stop);
        return;
      }
      // A valid request before the bad bytes gets its answer first, then the refusal, then the close.
      pending.once("finish", answer);
      pending.once("close", () => pending.writableFinished || closeSoon(socket));
    });
    if (via === "net") {
      const hand = (socket: net.Socket) => void server.emit("connection", socket);
      const front = settings.tls ? tls.createServer({ ...serverOptions(settings), ...h2?.tlsOptions }, hand) : net.createServer(hand);
      // A failed handshake is no HTTP request: nothing to answer.
      front.on("tlsClientError", (error: Error, socket: net.Socket) => {
        options.onError(error);
        socket.destroy();
      });
      await listen(front, listener, options.backlog);
      acceptors.push(front);
      watchDeadlines(server, sockets, settings);
    } else {
      await listen(server, listener, options.backlog);
      acceptors.push(server);
    }
    servers.push(server);
  }

  return {
    accepted: () => accepted,
    drain() {
      for (const server of servers) {
        server.off("request", onRequest);
        server.on("request", onDrainingRequest);
      }
      for (const socket of sockets) {
        const res = socket._httpMessage;
        if (res && !res.headersSent) res.shouldKeepAlive = false;
      }
      // net.Server#close stops accepting; http.Server#close would also drop idle
      // keep-alive sockets at once, racing clients that are sending on them.
      const closed = acceptors.map((server) =>
        new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()))
      );
      // HTTP/2 sessions get GOAWAY: their streams in flight finish, then they close.
      if (h2) closed.push(h2.drain());
      // A socket is closed once it has been idle, and has read nothing, for DRAIN_QUIET_MS: a client (a
      // balancer's pooled connection) that sends its next request meanwhile gets it answered with
      // Connection: close, and a connection in use is never closed under a request being sent on it.
      upgraded.closeAll();
      const quiet = new Map<HttpSocket, { bytes: number; since: number }>();
      return new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          const now = Date.now();
          for (const socket of sockets) {
            const seen = quiet.get(socket);
            if (socket._httpMessage || seen === undefined || seen.bytes !== socket.bytesRead) {
              quiet.set(socket, { bytes: socket._httpMessage ? -1 : socket.bytesRead, since: now });
            } else if (now - seen.since >= DRAIN_QUIET_MS) socket.destroy();
          }
          if (sockets.size === 0 && upgraded.size === 0) {
            clearInterval(poll);
            void Promise.all(closed).then(() => resolve());
          }
        }, DRAIN_POLL_MS);
      });
    },
  };
}
