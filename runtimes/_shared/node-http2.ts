/**
 * HTTP/2 on the node:http engine, through node:http2's compatibility API (Http2ServerRequest and
 * Http2ServerResponse, which @hono/node-server's bridge and Koa, Fastify or a plain listener take):
 *
 * - over TLS, on the same port as HTTP/1.1: the TLS server offers `h2` before `http/1.1` by ALPN, and a
 *   connection that chose h2 becomes an HTTP/2 session here; any other stays node:http's, as before;
 * - in cleartext (h2c with prior knowledge), only from peers in --forwarded-allow-ips, a front proxy
 *   speaking h2c to its backend, as Gunicorn allows it: a connection from such a peer that starts with
 *   HTTP/2's preface becomes a session; from any other peer the preface is a bad HTTP/1 request (400).
 *
 * Each stream goes through what an HTTP/1 request goes through: the policy's check of its head
 * (`checkWire`, version "2.0", `:authority` as Host), the same app dispatch, access log, connection cap
 * (a session is one connection) and deadlines: a session that opens no stream within --header-timeout,
 * or none for --keep-alive after its last one, is closed; a request body not received within
 * --body-timeout is answered 408. A drain sends GOAWAY: streams in flight finish, no new one starts.
 *
 * A refusal ends its stream, not the session: HTTP/2 frames each stream, so nothing of one can be read
 * as another. Connection-specific header fields (Connection, Keep-Alive, Transfer-Encoding, Upgrade),
 * which HTTP/2 forbids, are dropped from responses (node:http2 would warn, or throw, on each).
 */
import http2 from "node:http2";
import type net from "node:net";
import { getRequestListener } from "@hono/node-server";
import { IpSet } from "../../src/http/ip.ts";
import { reasonPhrase } from "../../src/http/policy.ts";
import type { HttpSettings, WireFields } from "../../src/http/types.ts";
import type { EngineInfo, RemoteAddr, ServedApp, ServeOptions, WireHead } from "../../src/runtime.ts";
import type { ProxiedSocket } from "./proxy-protocol.ts";
import { countSent } from "./sent.ts";

/** What a client with prior knowledge sends first (RFC 9113 3.4). */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/**
 * Whether a trusted peer's first bytes are read for h2c. Not on Deno's node:http: there the bytes put
 * back reach its parser out of order when more follow at once (a chunked 10 MiB upload from 127.0.0.1
 * got 400, "Invalid method"; Deno 2.9): h2c on Deno is Deno.serve's (`--engine native`).
 */
const SNIFFS = !("Deno" in globalThis);
/** Streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS; nginx 128, Apache 100). */
const MAX_CONCURRENT_STREAMS = 100;
/** How long a session unicorn closed may wait for the client to close its end, in ms. */
const LINGER_MS = 1000;
/** Fields the policy may see past --limit-request-fields (and answer 431) before node:http2 resets the stream itself. */
const FIELDS_SLACK = 16;
/** The pseudo-fields of a request (:method, :path, :scheme, :authority), which node:http2 counts among its pairs. */
const PSEUDO_FIELDS = 4;

/** How the HTTP/2 side is plugged into the node:http engine (runtimes/_shared/node-http.ts). */
export interface Http2Engine {
  /** TLS server options that offer h2 by ALPN, before http/1.1. */
  readonly tlsOptions: { readonly ALPNProtocols: string[] };
  /**
   * Puts HTTP/2 in front of `server`'s own `event` listeners ("secureConnection" on a TLS server,
   * "connection" otherwise): a connection that chose h2, or (cleartext, from a trusted peer) starts with
   * the preface, becomes a session; any other goes on to those listeners as before. `keep` (the
   * connection cap) stays in front of everything, for every connection.
   */
  attach(server: net.Server, event: "connection" | "secureConnection", keep?: (socket: net.Socket) => void): void;
  /** The socket of the longest-idle session (served, no stream open), for the connection cap; undefined for none. */
  idleSocket(): net.Socket | undefined;
  /** Sends GOAWAY on every session (streams in flight finish); resolves once every session has closed. */
  drain(): Promise<void>;
}

type Request2 = http2.Http2ServerRequest;
type Response2 = http2.Http2ServerResponse;
type Checked = { readonly head: WireHead; readonly fields: WireFields };

/** What the engine knows of one session. */
interface Session {
  readonly session: http2.ServerHttp2Session;
  /** The connection under it (a TLS socket, or a cleartext one for h2c). */
  readonly socket: net.Socket & ProxiedSocket;
  /** Streams open now. */
  streams: number;
  /** Whether a stream was ever opened (the first request arrived). */
  served: boolean;
  /** When the session started, or its last stream closed, in ms. */
  since: number;
}

const INFO = Symbol("unicorn.http2.info");
type WithInfo = Request2 & { [INFO]?: Http2Info };

function peerOf(socket: net.Socket & ProxiedSocket): RemoteAddr {
  if (socket.proxied) return socket.proxied.peer;
  if (socket.remoteAddress === undefined) return { transport: "unix", hostname: "", port: 0 };
  return { transport: "tcp", hostname: socket.remoteAddress, port: socket.remotePort ?? 0 };
}

function clientOf(socket: net.Socket & ProxiedSocket): RemoteAddr {
  return socket.proxied?.source ?? peerOf(socket);
}

/** The app's second argument for a request on an HTTP/2 stream: as node:http's, with node:http2's objects. */
class Http2Info implements EngineInfo {
  readonly incoming: Request2;
  readonly outgoing: Response2;
  readonly wire: Checked;
  readonly #socket: net.Socket & ProxiedSocket;
  constructor(incoming: Request2, outgoing: Response2, wire: Checked, socket: net.Socket & ProxiedSocket) {
    this.incoming = incoming;
    this.outgoing = outgoing;
    this.wire = wire;
    this.#socket = socket;
  }
  get remoteAddr(): RemoteAddr {
    return clientOf(this.#socket);
  }
  get proxy(): RemoteAddr | undefined {
    return this.#socket.proxied ? peerOf(this.#socket) : undefined;
  }
  /**
   * Shows a trusted proxy's client as `req.socket.remoteAddress` (and `encrypted` for its https), which
   * Koa's ctx.ip, Fastify's request.ip and Hono's getConnInfo read: on this request alone, since the
   * session's other streams share its socket.
   */
  expose(client: RemoteAddr, secure: boolean | undefined): void {
    const socket = this.incoming.socket;
    const shown = new Proxy(socket, {
      get(target, key) {
        if (key === "remoteAddress") return client.hostname;
        if (key === "encrypted" && secure === true) return true;
        return Reflect.get(target, key) as unknown;
      },
    });
    Object.defineProperty(this.incoming, "socket", { value: shown, configurable: true });
    Object.defineProperty(this.incoming, "connection", { value: shown, configurable: true });
  }
  whenSent(done: (bytes: number) => void): void {
    countSent(this.outgoing, this.incoming.method === "HEAD", done);
  }
}

/** Response fields HTTP/2 forbids (RFC 9113 8.2.2): dropped, as HTTP/2 frames and keeps connections itself. */
const CONNECTION_FIELDS = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);
const responseProto = http2.Http2ServerResponse.prototype;

function withoutConnectionFields(headers: unknown): unknown {
  if (headers === null || typeof headers !== "object") return headers;
  if (Array.isArray(headers)) {
    const flat = headers as unknown[];
    if (flat.length === 0 || Array.isArray(flat[0])) {
      return (flat as [string, unknown][]).filter(([name]) => !CONNECTION_FIELDS.has(String(name).toLowerCase()));
    }
    const kept: unknown[] = [];
    for (let i = 0; i < flat.length; i += 2) if (!CONNECTION_FIELDS.has(String(flat[i]).toLowerCase())) kept.push(flat[i], flat[i + 1]);
    return kept;
  }
  let copy: Record<string, unknown> | undefined;
  for (const name of Object.keys(headers)) {
    if (CONNECTION_FIELDS.has(name.toLowerCase())) delete (copy ??= { ...headers as Record<string, unknown> })[name];
  }
  return copy ?? headers;
}

function writeHead(this: Response2, status: number, ...rest: unknown[]): Response2 {
  if (rest.length > 0) rest[rest.length - 1] = withoutConnectionFields(rest[rest.length - 1]);
  return (responseProto.writeHead as (...args: unknown[]) => Response2).call(this, status, ...rest);
}
function setHeader(this: Response2, name: string, value: unknown): Response2 {
  if (CONNECTION_FIELDS.has(String(name).toLowerCase())) return this;
  return (responseProto.setHeader as (...args: unknown[]) => Response2).call(this, name, value);
}
function appendHeader(this: Response2, name: string, value: unknown): Response2 {
  if (CONNECTION_FIELDS.has(String(name).toLowerCase())) return this;
  return (responseProto as unknown as { appendHeader: (...args: unknown[]) => Response2 }).appendHeader.call(this, name, value);
}

/** An HTTP/2 stream's head as the policy reads it: pseudo-fields left out, `:authority` given as Host. */
function headOf(req: Request2): WireHead {
  const raw = req.rawHeaders;
  const fields: string[] = [];
  let authority: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ":authority") authority = raw[i + 1];
      continue;
    }
    if (name.length === 4 && name.toLowerCase() === "host") host = raw[i + 1];
    fields.push(name, raw[i + 1]!);
  }
  // Both and different: two Hosts, which the policy refuses (RFC 9113 8.3.1 says such a request is malformed).
  if (authority !== undefined && authority !== host) fields.push("host", authority);
  return { method: req.method ?? "-", target: req.url ?? "", version: "2.0", rawHeaders: fields, http2: true };
}

/** The largest header list the limits allow, so node:http2's own cap never refuses what they accept. */
function maxHeaderListSize(s: HttpSettings): number {
  if (s.limitRequestLine === 0 || s.limitRequestFields === 0 || s.limitRequestFieldSize === 0) return 1024 * 1024;
  return Math.max(64 * 1024, s.limitRequestLine + s.limitRequestFields * (s.limitRequestFieldSize + 32) + 4 * 32);
}

/** A short plain answer on a stream (no Connection field: the session goes on). */
function answer(res: Response2, status: number): void {
  if (res.headersSent || res.writableEnded) return;
  const body = `${reasonPhrase(status)}\n`;
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": String(body.length) });
  res.end(body);
}

/**
 * The HTTP/2 side of the node:http engine for `app`, or undefined where it must keep to HTTP/1.1: a
 * Node-style app that node:http2's compatibility objects would break (Express, connect, an http.Server).
 */
export function http2Engine(app: ServedApp, options: ServeOptions): Http2Engine | undefined {
  if (app.interface === "node" && app.http2 !== true) return undefined;
  const settings = options.policy.settings;
  const trusted = new IpSet(settings.forwardedAllowIps);
  const headMs = settings.headerTimeout * 1000;
  const bodyMs = settings.bodyTimeout > 0 ? Math.max(settings.bodyTimeout * 1000, headMs) : 0;
  const idleMs = settings.keepAlive * 1000;
  const bodyLimit = settings.limitRequestBody;

  const sessions = new Map<http2.ServerHttp2Session, Session>();
  /** Requests whose body is still coming, with when their stream opened: --body-timeout bounds them. */
  const uploads = new Map<Request2, { res: Response2; since: number }>();
  let draining = false;
  let drained: (() => void) | undefined;
  let claiming: (net.Socket & ProxiedSocket) | undefined;
  let sweeping: ReturnType<typeof setInterval> | undefined;

  const dispatch: (req: Request2, res: Response2, info: Http2Info) => void = app.interface === "node"
    ? ((handler) => (req: Request2, res: Response2, info: Http2Info) => handler(req as never, res as never, info))(app.handler)
    : ((handler) => {
      const bridge = getRequestListener(
        (request, env) => handler(request, (env.incoming as WithInfo)[INFO]!),
        { overrideGlobalObjects: true },
      );
      return (req: Request2, res: Response2, info: Http2Info) => {
        (req as WithInfo)[INFO] = info;
        void bridge(req as never, res as never);
      };
    })(app.handler);

  const server = http2.createServer({
    maxHeaderListPairs: settings.limitRequestFields > 0 ? settings.limitRequestFields + PSEUDO_FIELDS + FIELDS_SLACK : 2000,
    settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, maxHeaderListSize: maxHeaderListSize(settings) },
  });

  /** Closes a session: GOAWAY; streams in flight finish, then the session ends (its socket LINGER_MS later at the latest). */
  const close = (watched: Session) => {
    if (!watched.session.closed) watched.session.close();
  };

  const sweep = () => {
    const now = Date.now();
    for (const watched of sessions.values()) {
      if (watched.streams > 0 || watched.session.closed) continue;
      if (!watched.served ? headMs > 0 && now - watched.since > headMs : idleMs > 0 && now - watched.since > idleMs) {
        if (!watched.served) options.onError(new Error("an HTTP/2 session opened no stream within --header-timeout: closed"));
        close(watched);
      }
    }
    if (bodyMs > 0) {
      for (const [req, upload] of uploads) {
        if (now - upload.since <= bodyMs) continue;
        uploads.delete(req);
        expireBody(req, upload.res);
      }
    }
  };

  /** A request body that did not arrive within --body-timeout: 408 if no answer has started, and the app's read fails. */
  const expireBody = (req: Request2, res: Response2) => {
    const socket = sessions.get(req.stream.session as http2.ServerHttp2Session)?.socket;
    options.onRefused(
      { status: 408, reason: "the request did not arrive in time (--body-timeout)" },
      headOf(req),
      socket ? clientOf(socket) : { transport: "tcp", hostname: "", port: 0 },
    );
    const error = Object.assign(new Error("The request body timed out (--body-timeout)"), { code: "ERR_BODY_TIMEOUT" });
    if (res.headersSent) {
      // Answered (or answering) already: the app's read fails, and the stream ends, as the connection
      // does in HTTP/1.1; cleanly if the answer is whole.
      req.destroy(error);
      return void req.stream.close(res.writableEnded ? http2.constants.NGHTTP2_NO_ERROR : http2.constants.NGHTTP2_CANCEL);
    }
    // Once the answer ends the stream, node:http2 ends the request's body as if it were complete
    // (measured: the app read 3 bytes of a body that never finished): that end fails the app's read
    // instead, after the 408 has gone out whole.
    const push = req.push;
    req.push = function (this: Request2, chunk: unknown, encoding?: BufferEncoding) {
      if (chunk !== null) return push.call(this, chunk, encoding);
      this.destroy(error);
      return false;
    };
    answer(res, 408);
    // The client may still hold its side open: RST_STREAM NO_ERROR once the answer is out (RFC 9113 8.1)
    // ends the stream, and with it the request's body.
    req.stream.close(http2.constants.NGHTTP2_NO_ERROR);
  };

  server.on("session", (session: http2.ServerHttp2Session) => {
    const socket = claiming ?? (session.socket as net.Socket);
    const watched: Session = { session, socket, streams: 0, served: false, since: Date.now() };
    sessions.set(session, watched);
    if (!sweeping) {
      sweeping = setInterval(sweep, Math.max(100, Math.min(1000, (headMs || 4000) / 4)));
      sweeping.unref?.();
    }
    session.once("close", () => {
      sessions.delete(session);
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
      if (draining && sessions.size === 0) drained?.();
    });
    if (draining) session.close();
  });
  server.on("sessionError", (error: Error) => options.onError(error));
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    const watched = sessions.get(stream.session as http2.ServerHttp2Session);
    if (!watched) return;
    watched.streams++;
    watched.served = true;
    stream.once("close", () => {
      if (--watched.streams === 0) watched.since = Date.now();
    });
  });

  server.on("request", (req: Request2, res: Response2) => {
    res.writeHead = writeHead as typeof res.writeHead;
    res.setHeader = setHeader as typeof res.setHeader;
    if (typeof (responseProto as { appendHeader?: unknown }).appendHeader === "function") {
      (res as unknown as { appendHeader: typeof appendHeader }).appendHeader = appendHeader;
    }
    const watched = sessions.get(req.stream.session as http2.ServerHttp2Session);
    const socket = watched?.socket ?? (req.socket as unknown as net.Socket);
    const head = headOf(req);
    const verdict = options.policy.checkWire(head);
    if (verdict.rejection) {
      options.onRefused(verdict.rejection, head, clientOf(socket));
      return answer(res, verdict.rejection.status);
    }
    const fields = verdict.fields;
    if (!req.stream.endAfterHeaders) {
      // A body without Content-Length is framed by DATA frames, as a chunked one is by its chunks:
      // --limit-request-body bounds it while it streams, the same way.
      if (fields.length === null && bodyLimit > 0) fields.transferEncoding = "chunked";
      if (bodyMs > 0) {
        uploads.set(req, { res, since: Date.now() });
        const done = () => uploads.delete(req);
        req.once("end", done);
        res.once("close", done);
      }
    }
    if (req.url === "*") req.url = "/*";
    // No :authority and no Host (HTTP/2 allows it): the address it came to, as for HTTP/1.0 without Host.
    if (fields.host === null) {
      const address = socket.localAddress;
      req.headers.host = address && socket.localPort !== undefined
        ? `${address.includes(":") ? `[${address}]` : address}:${socket.localPort}`
        : "localhost";
    }
    dispatch(req, res, new Http2Info(req, res, { head, fields }, socket));
  });

  const claim = (socket: net.Socket) => {
    claiming = socket;
    try {
      server.emit("connection", socket);
    } finally {
      claiming = undefined;
    }
  };

  const isTrusted = (socket: net.Socket & ProxiedSocket): boolean => {
    const address = socket.proxied ? socket.proxied.peer.hostname : socket.remoteAddress;
    if (address === undefined || (socket.proxied?.peer.transport === "unix")) return true;
    return trusted.any || trusted.has(address);
  };

  /**
   * Reads a trusted peer's first bytes: HTTP/2's preface makes the connection a session, anything else
   * goes on to node:http with the bytes put back. A peer that sends nothing within --header-timeout is
   * refused as node:http refuses a head that does not arrive (408).
   */
  const peek = (server: net.Server, socket: net.Socket, pass: (socket: net.Socket) => void) => {
    let buffered: Buffer = Buffer.alloc(0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = () => clearTimeout(timer);
    const handOn = (h2: boolean) => {
      clearTimeout(timer);
      // Nothing of the peek stays on the socket: its bytes, timer and closures would outlive it on every
      // kept-alive connection (about 0.7 KiB each, measured on Node).
      socket.off("data", onData);
      socket.off("close", stop);
      socket.pause();
      if (buffered.length > 0) socket.unshift(buffered);
      if (!h2) {
        pass(socket);
        return void socket.resume();
      }
      claim(socket);
      // On the next tick, once the session has taken the bytes put back (Node's reads them itself on
      // its first tick; resumed at once, they would flow past it and be lost); Bun's and Deno's need
      // the resume to read at all (measured on the three).
      process.nextTick(() => socket.resume());
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const n = Math.min(buffered.length, PREFACE.length);
      const prefix = buffered.compare(PREFACE, 0, n, 0, n) === 0;
      if (prefix && n < PREFACE.length) return;
      handOn(prefix);
    };
    if (headMs > 0) {
      timer = setTimeout(() => {
        handOn(false);
        server.emit("clientError", Object.assign(new Error("the request head did not arrive in time"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }), socket);
      }, headMs);
    }
    socket.on("data", onData);
    socket.on("close", stop);
  };

  return {
    tlsOptions: { ALPNProtocols: ["h2", "http/1.1"] },
    attach(target, event, keep) {
      const own = (target.listeners(event) as Array<(socket: net.Socket) => void>).filter((listener) => listener !== keep);
      for (const listener of own) target.off(event, listener);
      const pass = (socket: net.Socket) => {
        for (const listener of own) listener.call(target, socket);
      };
      target.on(event, (socket: net.Socket & { alpnProtocol?: string | false; encrypted?: boolean }) => {
        if (socket.destroyed) return;
        if (socket.alpnProtocol === "h2") return claim(socket);
        if (socket.encrypted || draining || !SNIFFS || !isTrusted(socket)) return pass(socket);
        peek(target, socket, pass);
      });
    },
    idleSocket() {
      for (const watched of sessions.values()) {
        // The caller destroys it at once; its session leaves the map when it closes.
        if (watched.served && watched.streams === 0 && !watched.socket.destroyed) return watched.socket;
      }
      return undefined;
    },
    drain() {
      draining = true;
      for (const watched of sessions.values()) close(watched);
      if (sessions.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => (drained = resolve));
    },
  };
}
