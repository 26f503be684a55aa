/**
 * The access log: Gunicorn's format atoms (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`,
 * `%({header}i)s`, `%({header}o)s`, `%({VAR}e)s`), every value escaped so that a header cannot forge a
 * line or a field; or `json`, one JSON object per line. Off unless `--access-logfile` is set, so it costs
 * nothing per request by default.
 */
import type { EngineHandler, EngineInfo } from "../runtime.ts";
import { connInfoOf } from "./client.ts";

/** The request side of an access-log line: a Request, or the raw head of one refused before it became one. */
export interface AccessRequest {
  readonly method: string;
  /** The target as a path and query (`/a/b?x=1`), or as sent when it is not one. */
  readonly target: string;
  header(name: string): string | null;
}

/** What one access-log line is made of. */
export interface AccessEntry {
  readonly request: AccessRequest;
  readonly status: number;
  responseHeader(name: string): string | null;
  /** The client unicorn decided (`info.remoteAddr`: the peer, or the client a trusted proxy named). */
  readonly remote: string;
  /** The connection's peer (the proxy, behind one); the same as `remote` when no proxy named a client. */
  readonly peer: string;
  /** Body bytes sent, where the engine counts them; else the Content-Length said is logged. */
  readonly bytes?: number;
  readonly started: Date;
  /** Time the app took to produce the response, in ms. */
  readonly durationMs: number;
  readonly pid: number;
  readonly protocol: string;
}

/** The path and query of an absolute URL, without parsing it. */
export function targetOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start < 0 ? "/" : url.slice(start);
}

/** A Request as the access log reads it. */
export function accessRequest(request: Request): AccessRequest {
  return { method: request.method, target: targetOf(request.url), header: (name) => fieldOf(request, name) };
}

/** A request field; null where the request can no longer be read (Deno's, once upgraded to a WebSocket). */
function fieldOf(request: Request, name: string): string | null {
  try {
    return request.headers.get(name);
  } catch {
    return null;
  }
}

function splitTarget(target: string): [path: string, query: string] {
  const q = target.indexOf("?");
  return q < 0 ? [target, ""] : [target.slice(0, q), target.slice(q + 1)];
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** `[26/Nov/2026:10:00:00 +0000]`, in local time. */
export function formatAccessDate(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `[${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`;
}

/** Escapes quotes, backslashes and control bytes, as nginx does: a value can never end its field or line. */
export function escapeValue(value: string): string {
  return value.replace(/[\x00-\x1f\x7f"\\]/g, (c) =>
    c === '"' ? '\\"' : c === "\\" ? "\\\\" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`
  );
}

function basicUser(request: AccessRequest): string {
  const auth = request.header("authorization");
  if (!auth || !/^basic /i.test(auth)) return "-";
  try {
    const decoded = atob(auth.slice(6).trim());
    return decoded.slice(0, Math.max(0, decoded.indexOf(":"))) || "-";
  } catch {
    return "-";
  }
}

type Atom = (entry: AccessEntry) => string;

const ATOMS: Record<string, Atom> = {
  h: (e) => e.remote || "-",
  peer: (e) => e.peer || "-",
  l: () => "-",
  u: (e) => basicUser(e.request),
  t: (e) => formatAccessDate(e.started),
  r: (e) => `${e.request.method} ${e.request.target} ${e.protocol}`,
  m: (e) => e.request.method,
  U: (e) => splitTarget(e.request.target)[0],
  q: (e) => splitTarget(e.request.target)[1],
  H: (e) => e.protocol,
  s: (e) => String(e.status),
  B: (e) => (e.bytes !== undefined ? String(e.bytes) : e.responseHeader("content-length") ?? "0"),
  b: (e) => (e.bytes !== undefined ? String(e.bytes) : e.responseHeader("content-length") ?? "-"),
  f: (e) => e.request.header("referer") ?? "-",
  a: (e) => e.request.header("user-agent") ?? "-",
  T: (e) => String(Math.floor(e.durationMs / 1000)),
  M: (e) => String(Math.round(e.durationMs)),
  D: (e) => String(Math.round(e.durationMs * 1000)),
  L: (e) => (e.durationMs / 1000).toFixed(6),
  p: (e) => `<${e.pid}>`,
};

/** Compiles a format once; returns the function that renders a line. Throws on an unknown atom. */
export function compileAccessFormat(
  format: string,
  env: Readonly<Record<string, string | undefined>>,
): (entry: AccessEntry) => string {
  if (format.trim().toLowerCase() === "json") return jsonLine;
  const parts: Array<string | Atom> = [];
  let last = 0;
  for (const match of format.matchAll(/%\(([^)]+)\)s/g)) {
    parts.push(format.slice(last, match.index));
    last = match.index! + match[0].length;
    const name = match[1]!;
    const header = /^\{([^}]+)\}([ioe])$/.exec(name);
    if (header) {
      const key = header[1]!;
      const kind = header[2];
      parts.push(
        kind === "i"
          ? (e) => e.request.header(key) ?? "-"
          : kind === "o"
          ? (e) => e.responseHeader(key) ?? "-"
          : () => env[key] ?? "-",
      );
    } else if (ATOMS[name]) {
      parts.push(ATOMS[name]);
    } else {
      throw new Error(`unknown atom "%(${name})s"`);
    }
  }
  parts.push(format.slice(last));
  return (entry) => parts.map((p) => (typeof p === "string" ? p : escapeValue(p(entry)))).join("");
}

function jsonLine(e: AccessEntry): string {
  const [path, query] = splitTarget(e.request.target);
  const length = e.bytes !== undefined ? String(e.bytes) : e.responseHeader("content-length");
  return JSON.stringify({
    time: e.started.toISOString(),
    remote: e.remote || null,
    peer: e.peer || null,
    method: e.request.method,
    path,
    query,
    protocol: e.protocol,
    status: e.status,
    bytes: length === null ? null : Number(length),
    referer: e.request.header("referer"),
    userAgent: e.request.header("user-agent"),
    durationMs: Math.round(e.durationMs * 1000) / 1000,
    pid: e.pid,
  });
}

/** Writes access-log lines; a failing write (full disk, closed pipe) loses the line, never the request. */
export class AccessLog {
  #failures = 0;
  readonly #render: (entry: AccessEntry) => string;
  readonly #write: (line: string) => void;
  readonly #pid: number;
  readonly #onFailure: (failures: number, error: unknown) => void;

  constructor(
    render: (entry: AccessEntry) => string,
    write: (line: string) => void,
    pid: number,
    onFailure: (failures: number, error: unknown) => void = () => {},
  ) {
    this.#render = render;
    this.#write = write;
    this.#pid = pid;
    this.#onFailure = onFailure;
  }

  /** Writes the line of one answered request. */
  write(entry: Omit<AccessEntry, "pid">): void {
    try {
      this.#write(this.#render({ ...entry, pid: this.#pid }));
    } catch (error) {
      this.#onFailure(++this.#failures, error);
    }
  }

  /**
   * Wraps the next stage so that each answered request writes one line: when the engine counts the
   * bytes it sends (node:http), once the response is sent; else as soon as the app has answered.
   */
  wrap(handler: EngineHandler): EngineHandler {
    const line = (request: Request, info: EngineInfo, response: Response, started: Date, t0: number, bytes?: number) => {
      const version = info.wire?.head.version;
      this.write({
        request: accessRequest(request),
        status: response.status,
        responseHeader: (name) => response.headers.get(name),
        // The client the policy decided; a request it refused keeps the peer.
        remote: (connInfoOf(request) ?? info).remoteAddr.hostname,
        peer: info.remoteAddr.hostname,
        bytes,
        started,
        durationMs: performance.now() - t0,
        protocol: version ? `HTTP/${version}` : "HTTP/1.1",
      });
    };
    return (request, info) => {
      const started = new Date();
      const t0 = performance.now();
      if (info.whenSent) {
        // The line waits for both the response and the count of what was sent, whichever comes last.
        let response: Response | undefined;
        let sent: number | undefined;
        info.whenSent((bytes) => {
          sent = bytes;
          if (response) line(request, info, response, started, t0, bytes);
        });
        const settle = (value: Response) => {
          response = value;
          if (sent !== undefined) line(request, info, value, started, t0, sent);
          return value;
        };
        const result = handler(request, info);
        return result instanceof Promise ? result.then(settle) : settle(result);
      }
      const result = handler(request, info);
      const settle = (response: Response) => {
        line(request, info, response, started, t0);
        return response;
      };
      return result instanceof Promise ? result.then(settle) : settle(result);
    };
  }
}
