/**
 * The HTTP policy every engine enforces before the app runs: Gunicorn's request
 * limits, strict framing and Host rules, and the trusted-proxy headers.
 *
 * Engines that see the request as it came on the wire (the node:http engine)
 * call {@linkcode RequestPolicy.checkWire} with the raw head before building a
 * Request; the native engines (Bun.serve, Deno.serve) parse the wire
 * themselves, so {@linkcode RequestPolicy.wrap} checks what their Request
 * shows. Either way a rejection is answered with `Connection: close` and
 * nothing else on that connection reaches the app.
 */
import type { ConnInfo, EngineHandler, EngineInfo, RemoteAddr, WireHead } from "../runtime.ts";
import { originalOf, setConnInfo, setOriginal } from "./client.ts";
import { IpSet, parseIp } from "./ip.ts";
import type { HttpSettings, Rejection, WireFields, WireVerdict } from "./types.ts";

export type { HttpSettings, Rejection, TlsFiles, WireFields, WireVerdict } from "./types.ts";

type Fields = WireFields;

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  505: "HTTP Version Not Supported",
};

/** The status line's reason phrase for a rejection status. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Bad Request";
}

/** The response of a rejection: short, plain, and the last on its connection. */
export function rejectionResponse(rejection: Rejection): Response {
  const body = `${reasonPhrase(rejection.status)}\n`;
  return new Response(body, {
    status: rejection.status,
    // The length said, as the node engine's raw refusals say it (the access log's `b` reads it).
    headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(body.length), connection: "close" },
  });
}

/** What a trusted proxy named: the client (undefined when it named none usable) and the scheme (undefined when unsaid). */
export interface ProxyDecision {
  readonly client: RemoteAddr | undefined;
  readonly secure: boolean | undefined;
}

/**
 * The info of a request whose client a trusted proxy named. Built on the engine's own info, so what else
 * it carries (Node's incoming and outgoing, Bun's server, as Hono's helpers read them) stays; only the
 * addresses change.
 */
export function proxiedInfo(info: EngineInfo, client: RemoteAddr): EngineInfo {
  return Object.create(info, {
    remoteAddr: { value: client, enumerable: true },
    proxy: { value: info.remoteAddr, enumerable: true },
    connection: { value: info.connection },
    wire: { value: info.wire },
  });
}

/** Thrown into the app's body stream when a chunked body outgrows --limit-request-body. */
export class BodyLimitError extends Error {
  constructor(limit: number) {
    super(`The request body is larger than --limit-request-body (${limit} bytes)`);
    this.name = "BodyLimitError";
  }
}

// Host: a reg-name or IPv4 (no comma: merged duplicates show one), or an IPv6 literal; then a port.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]*)(?::\d{0,5})?$/;
const DIGITS = /^\d+$/;
const ABSOLUTE = /^https?:\/\/[^/?#]/i;
/** An absolute URL whose authority holds user information (`http://user:pass@host/`). */
const USERINFO = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i;
/** RFC 9110 4.2.4: a sender must not send userinfo in an http(s) URI; a recipient should treat it as an error. */
const USERINFO_REJECTION: Rejection = { status: 400, reason: "user information (user:password@) in the request target" };
/** Transfer codings RFC 9110 registers besides chunked: known, framed, and still not decoded here (501). */
const CODINGS = new Set(["gzip", "deflate", "compress", "x-gzip", "x-compress"]);
/** The fields a native engine's Request is asked for before the scheme headers. */
const SCANNED = new Set(["host", "content-length", "transfer-encoding", "x-forwarded-for", "forwarded"]);

/** The policy of one worker, built once from its settings. */
export class RequestPolicy {
  readonly settings: HttpSettings;
  readonly #trusted: IpSet;
  readonly #schemeHeaders: ReadonlyMap<string, string>;
  readonly #trustCache = new Map<string, boolean>();
  readonly #schemeNames: readonly string[];
  /** Whether a scheme header is also a field read for itself (a config naming Host so): then no field is skipped. */
  readonly #schemeOverlaps: boolean;
  /**
   * The last Host that passed the check: a worker sees the same few, and comparing costs less than the
   * test (20 to 100 ns less per request on Bun.serve, measured).
   */
  #validHost = "";
  /** Connections (an engine's identity for one) on which a request was refused. */
  readonly #refused = new Set<unknown>();

  constructor(settings: HttpSettings) {
    this.settings = settings;
    this.#trusted = new IpSet(settings.forwardedAllowIps);
    this.#schemeHeaders = new Map(
      Object.entries(settings.secureSchemeHeaders).map(([name, value]) => [name.toLowerCase(), value.toLowerCase()]),
    );
    this.#schemeNames = [...this.#schemeHeaders.keys()];
    this.#schemeOverlaps = this.#schemeNames.some((name) => SCANNED.has(name));
  }

  /** Checks a head as it came on the wire (the node:http engine), before any Request is built. */
  checkWire(head: WireHead): WireVerdict {
    const { version, target, method } = head;
    // HTTP/2 only from an engine that received an HTTP/2 stream: "HTTP/2.0" in an HTTP/1 request line is refused.
    if (version !== "1.1" && version !== "1.0" && !(version === "2.0" && head.http2 === true)) {
      return { rejection: { status: version.startsWith("0.") ? 400 : 505, reason: `HTTP/${version} is not supported` } };
    }
    if (target.charCodeAt(0) !== 47 /* / */) {
      if (target === "*") {
        if (method !== "OPTIONS") return { rejection: { status: 400, reason: `"*" is a target only for OPTIONS, not ${method}` } };
      } else if (method !== "CONNECT" && !ABSOLUTE.test(target)) {
        return { rejection: { status: 400, reason: "the request target is neither a path nor an absolute URL" } };
      } else if (USERINFO.test(target)) {
        return { rejection: USERINFO_REJECTION };
      }
    }
    const fields = this.#scanRaw(head.rawHeaders);
    const rejection = this.#judge(method, target.length, version, fields);
    return rejection ? { rejection } : { fields };
  }

  /**
   * Wraps the next stage: checks what a native engine's Request shows, applies the trusted-proxy
   * headers, and bounds a chunked body. Engines that checked the raw head pass what they found in
   * `info.wire` and are not checked twice. `onRefused` hears of each refusal made here.
   */
  wrap(next: EngineHandler, onRefused: (rejection: Rejection, request: Request, info: EngineInfo) => void): EngineHandler {
    const limit = this.settings.limitRequestBody;
    const refused = this.#refused;
    const refuse = (rejection: Rejection, request: Request, info: EngineInfo) => {
      onRefused(rejection, request, info);
      return this.#refuse(rejection, info);
    };
    return (request, info) => {
      if (refused.size !== 0 && info.connection !== undefined && refused.has(info.connection)) {
        return refuse({ status: 400, reason: "an earlier request on this connection was refused" }, request, info);
      }
      let fields = info.wire?.fields;
      if (fields === undefined) {
        fields = this.#scanHeaders(request.headers);
        const url = request.url;
        // Deno.serve keeps an absolute target's user information in the URL (Bun drops it).
        if (url.includes("@") && USERINFO.test(url)) return refuse(USERINFO_REJECTION, request, info);
        // The version matters only to a request without Host: the engine may know it is HTTP/1.0.
        const version = fields.host === null ? info.httpVersion ?? null : null;
        // The target's length without slicing it out: what follows the authority.
        const rejection = this.#judge(request.method, url.length - url.indexOf("/", url.indexOf("//") + 2), version, fields);
        if (rejection) return refuse(rejection, request, info);
      }
      if (fields.forwardedFor !== null || fields.forwarded !== null || fields.scheme !== null) {
        const forwarded = this.#forwarded(request, info, fields);
        if ("status" in forwarded) return refuse(forwarded, request, info);
        if (forwarded.request !== request) setConnInfo(request, forwarded.info);
        request = forwarded.request;
        info = forwarded.info;
      }
      // For request.ip, the frameworks' helpers and the access log: the client decided.
      setConnInfo(request, info);
      if (limit > 0 && fields.transferEncoding !== null && request.body !== null) {
        return this.#bounded(next, request, info, limit, onRefused);
      }
      return next(request, info);
    };
  }

  #refuse(rejection: Rejection, info: EngineInfo): Response {
    const connection = info.connection;
    if (connection !== undefined) {
      this.#refused.add(connection);
      // Long enough for the connection to close; a client port is not reused that soon.
      setTimeout(() => this.#refused.delete(connection), 10_000);
    }
    return rejectionResponse(rejection);
  }

  #scanRaw(raw: readonly string[]): Fields {
    const fields = emptyFields(raw.length >> 1);
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const size = name.length + value.length + 2;
      if (size > fields.longest) fields.longest = size;
      this.#field(fields, name.toLowerCase(), value);
    }
    return fields;
  }

  /**
   * The fields a native engine's Request shows, read one by one: walking every field costs
   * 6 to 11 % more of a request's CPU on Bun.serve and Deno.serve (measured). So the count comes
   * from Bun's `headers.count` (Deno has none), and the size limit is checked on the fields read
   * here; the engine's own cap bounds the rest of the head (docs/http.md).
   */
  #scanHeaders(headers: Headers): Fields {
    const count = (headers as Headers & { count?: number }).count;
    const fields = emptyFields(typeof count === "number" ? count : 0);
    // The fields not found yet: once none is left, those not read yet are absent and are not asked
    // for (each get costs 30 to 90 ns on Bun.serve, measured; a probe's or wrk's only field is Host).
    // Bun counts a merged duplicate once, as it is read here; with no count (Deno), every one is read.
    let left = typeof count === "number" && !this.#schemeOverlaps ? count : -1;
    if ((fields.host = read(fields, headers, "host")) !== null) {
      fields.hosts = 1;
      if (--left === 0) return fields;
    }
    if ((fields.length = read(fields, headers, "content-length")) !== null) {
      fields.lengths = 1;
      if (--left === 0) return fields;
    }
    if ((fields.transferEncoding = read(fields, headers, "transfer-encoding")) !== null && --left === 0) return fields;
    // Trusting no peer (--forwarded-allow-ips ''), the proxy headers are not even read.
    if (this.#trusted.empty) return fields;
    // Read whoever the peer is: asking a native engine for the peer's address costs more (Bun's
    // requestIP: 2 us, measured) than these reads; the address is asked only when one is present.
    if ((fields.forwardedFor = read(fields, headers, "x-forwarded-for")) !== null && --left === 0) return fields;
    if ((fields.forwarded = read(fields, headers, "forwarded")) !== null && --left === 0) return fields;
    for (const name of this.#schemeNames) {
      const value = read(fields, headers, name);
      if (value === null) continue;
      (fields.scheme ??= new Map()).set(name, value);
      if (--left === 0) return fields;
    }
    return fields;
  }

  /** Whether a peer may set the proxy headers; remembered per address, since the same few peers repeat. */
  #isTrusted(info: ConnInfo): boolean {
    const { transport, hostname } = info.remoteAddr;
    if (transport === "unix" || this.#trusted.any) return true;
    let trusted = this.#trustCache.get(hostname);
    if (trusted === undefined) {
      if (this.#trustCache.size >= 1024) this.#trustCache.clear();
      trusted = this.#trusted.has(hostname);
      this.#trustCache.set(hostname, trusted);
    }
    return trusted;
  }

  #field(fields: Fields, name: string, value: string): void {
    switch (name) {
      case "host":
        fields.hosts++;
        fields.host = value;
        return;
      case "content-length":
        fields.lengths++;
        fields.length = value;
        return;
      case "transfer-encoding":
        fields.transferEncoding = fields.transferEncoding === null ? value : `${fields.transferEncoding}, ${value}`;
        return;
      case "x-forwarded-for":
        fields.forwardedFor = fields.forwardedFor === null ? value : `${fields.forwardedFor}, ${value}`;
        return;
      case "forwarded":
        fields.forwarded = fields.forwarded === null ? value : `${fields.forwarded}, ${value}`;
        return;
    }
    if (this.#schemeHeaders.has(name)) (fields.scheme ??= new Map()).set(name, value);
  }

  #judge(method: string, targetLength: number, version: string | null, fields: Fields): Rejection | undefined {
    const s = this.settings;
    if (method === "CONNECT") return { status: 501, reason: "CONNECT is not supported" };
    if (s.limitRequestLine > 0 && method.length + targetLength + 10 > s.limitRequestLine) {
      return { status: 414, reason: `the request line is longer than --limit-request-line (${s.limitRequestLine})` };
    }
    if (s.limitRequestFields > 0 && fields.count > s.limitRequestFields) {
      return { status: 431, reason: `more than --limit-request-fields (${s.limitRequestFields}) header fields` };
    }
    if (s.limitRequestFieldSize > 0 && fields.longest > s.limitRequestFieldSize) {
      return { status: 431, reason: `a header field is longer than --limit-request-field-size (${s.limitRequestFieldSize})` };
    }
    if (fields.host === null) {
      // The native engines hide the version: Host is required of every request there, but over TLS,
      // where Deno.serve also speaks HTTP/2, whose requests name the host in :authority instead. An
      // HTTP/2 stream from node:http2 has its :authority as Host already; with neither, it names no
      // authority, which HTTP/2 allows (RFC 9113 8.3.1), as HTTP/1.0 does.
      const http2 = version === "2.0" || (version === null && s.tls !== null);
      if (version !== "1.0" && !http2) return { status: 400, reason: "HTTP/1.1 requires a Host header" };
    } else if (fields.hosts > 1) {
      return { status: 400, reason: "more than one Host header" };
    } else if (fields.host !== this.#validHost) {
      if (!HOST.test(fields.host)) return { status: 400, reason: "an invalid Host header" };
      this.#validHost = fields.host;
    }
    if (fields.transferEncoding !== null) {
      if (fields.length !== null) return { status: 400, reason: "both Content-Length and Transfer-Encoding" };
      if (version === "1.0") return { status: 400, reason: "Transfer-Encoding in an HTTP/1.0 request" };
      // The body's framing first (chunked last, once), then the codings: unicorn decodes none but
      // chunked, and the app would get a gzip'd body it cannot tell from a plain one (RFC 9112 6.1: 501).
      const codings = fields.transferEncoding.toLowerCase().split(",");
      for (const coding of codings) {
        const name = coding.trim();
        if (name !== "chunked" && !CODINGS.has(name)) return { status: 501, reason: `the transfer coding "${name}" is not supported` };
      }
      for (let i = 0; i < codings.length; i++) {
        const chunked = codings[i]!.trim() === "chunked";
        if (chunked !== (i === codings.length - 1)) {
          return { status: 400, reason: chunked ? "chunked is not the last transfer coding" : "the last transfer coding is not chunked" };
        }
      }
      if (codings.length > 1) {
        return { status: 501, reason: `the transfer coding "${codings[0]!.trim()}" is not supported: only chunked is` };
      }
    } else if (fields.length !== null) {
      if (fields.lengths > 1 || !DIGITS.test(fields.length)) return { status: 400, reason: "an invalid Content-Length" };
      if (s.limitRequestBody > 0 && Number(fields.length) > s.limitRequestBody) {
        return { status: 413, reason: `the body is larger than --limit-request-body (${s.limitRequestBody})` };
      }
    }
    return undefined;
  }

  /**
   * What a trusted proxy's headers say of a request: nothing (no such header, or a peer not trusted),
   * the client and scheme it names, or the conflict that makes the request a 400.
   */
  proxied(fields: Fields, info: ConnInfo): ProxyDecision | Rejection | undefined {
    if ((fields.forwardedFor === null && fields.forwarded === null && fields.scheme === null) || !this.#isTrusted(info)) {
      return undefined;
    }
    let secure: boolean | undefined;
    const vote = (value: boolean): boolean => {
      if (secure !== undefined && secure !== value) return false;
      secure = value;
      return true;
    };
    if (fields.scheme !== null) {
      for (const [name, value] of fields.scheme) {
        if (!vote(value.trim().toLowerCase() === this.#schemeHeaders.get(name))) {
          return { status: 400, reason: "the proxy's scheme headers contradict each other" };
        }
      }
    }
    let clients: string[] = [];
    if (fields.forwarded !== null) {
      const parsed = parseForwarded(fields.forwarded);
      if (parsed === undefined) return { status: 400, reason: "an invalid Forwarded header" };
      for (const proto of parsed.protos) {
        if (!vote(proto === "https")) return { status: 400, reason: "the proxy's scheme headers contradict each other" };
      }
      clients = parsed.clients;
    } else if (fields.forwardedFor !== null) {
      clients = fields.forwardedFor.split(",").map((part) => part.trim()).filter((part) => part !== "");
    }
    // The nearest address that is not a trusted proxy is the client; a chain of proxies only, the first.
    let client: string | undefined;
    for (let i = clients.length - 1; i >= 0; i--) {
      client = clients[i];
      if (!this.#trusted.has(client!)) break;
    }
    // "unknown", an obfuscated name or garbage: the peer stays the client.
    if (client !== undefined && parseIp(client) === undefined) client = undefined;
    return { secure, client: client === undefined ? undefined : { transport: "tcp", hostname: client, port: 0 } };
  }

  /** The request and info a trusted proxy's decision makes of the engine's (a new URL only when the scheme changes). */
  #forwarded(request: Request, info: EngineInfo, fields: Fields): Rejection | { request: Request; info: EngineInfo } {
    const decision = this.proxied(fields, info);
    if (decision === undefined) return { request, info };
    if ("status" in decision) return decision;
    const { secure, client } = decision;
    let result = request;
    if (secure !== undefined) {
      const url = request.url;
      const https = url.startsWith("https:");
      if (secure !== https) result = withUrl(request, (secure ? "https" : "http") + url.slice(url.indexOf(":")));
    }
    info.expose?.(client ?? info.remoteAddr, secure);
    if (client === undefined) return { request: result, info };
    return { request: result, info: proxiedInfo(info, client) };
  }

  #bounded(
    handler: EngineHandler,
    request: Request,
    info: EngineInfo,
    limit: number,
    onRefused: (rejection: Rejection, request: Request, info: EngineInfo) => void,
  ): Promise<Response> {
    let seen = 0;
    let over = false;
    const counted = request.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > limit) {
            over = true;
            controller.error(new BodyLimitError(limit));
          } else controller.enqueue(chunk);
        },
      }),
    );
    const bounded = new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body: counted,
      signal: request.signal,
      duplex: "half",
    } as RequestInit);
    setConnInfo(bounded, info);
    return Promise.resolve(handler(bounded, info)).then((response) => {
      if (!over) return response;
      const rejection = { status: 413, reason: "the chunked body is larger than --limit-request-body" };
      onRefused(rejection, request, info);
      return this.#refuse(rejection, info);
    });
  }
}

/** One field of a native engine's Request, its line's size noted for the field-size limit. */
function read(fields: Fields, headers: Headers, name: string): string | null {
  const value = headers.get(name);
  if (value !== null && name.length + value.length + 2 > fields.longest) fields.longest = name.length + value.length + 2;
  return value;
}

function emptyFields(count: number): Fields {
  return {
    count,
    longest: 0,
    hosts: 0,
    host: null,
    lengths: 0,
    length: null,
    transferEncoding: null,
    forwardedFor: null,
    forwarded: null,
    scheme: null,
  };
}

/** A copy of `request` at another URL (the scheme a proxy reported). */
function withUrl(request: Request, url: string): Request {
  const init: RequestInit & { duplex?: string } = { method: request.method, headers: request.headers, signal: request.signal };
  if (request.body !== null) {
    init.body = request.body;
    init.duplex = "half";
  }
  const rebuilt = new Request(url, init);
  setOriginal(rebuilt, originalOf(request));
  return rebuilt;
}

/** RFC 7239 `Forwarded`: the for= addresses and proto= values, in order; undefined when malformed. */
export function parseForwarded(value: string): { clients: string[]; protos: string[] } | undefined {
  const clients: string[] = [];
  const protos: string[] = [];
  for (const element of value.split(",")) {
    for (const pair of element.split(";")) {
      const text = pair.trim();
      if (text === "") continue;
      const eq = text.indexOf("=");
      if (eq <= 0) return undefined;
      const key = text.slice(0, eq).trim().toLowerCase();
      let item = text.slice(eq + 1).trim();
      if (item.startsWith('"')) {
        if (!item.endsWith('"') || item.length < 2) return undefined;
        item = item.slice(1, -1);
      }
      if (key === "for") {
        // "[v6]:port", "v4:port", "_hidden" or "unknown".
        let address = item;
        if (address.startsWith("[")) address = address.slice(1, address.indexOf("]"));
        else if (address.split(":").length === 2) address = address.slice(0, address.indexOf(":"));
        clients.push(address);
      } else if (key === "proto") {
        protos.push(item.toLowerCase());
      }
    }
  }
  return { clients, protos };
}
