/**
 * The access log: Gunicorn's format atoms (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`,
 * `%({header}i)s`, `%({header}o)s`, `%({VAR}e)s`), every value escaped so that a header cannot forge a
 * line or a field; or `json`, one JSON object per line. Off unless `--access-logfile` is set, so it costs
 * nothing per request by default.
 */
import type { ConnInfo, FetchHandler } from "../runtime.ts";

/** What one access-log line is made of. */
export interface AccessEntry {
  readonly request: Request;
  readonly response: Response;
  readonly info: ConnInfo;
  readonly started: Date;
  /** Time the app took to produce the response, in ms. */
  readonly durationMs: number;
  readonly pid: number;
  readonly protocol: string;
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

function basicUser(request: Request): string {
  const auth = request.headers.get("authorization");
  if (!auth || !/^basic /i.test(auth)) return "-";
  try {
    const decoded = atob(auth.slice(6).trim());
    return decoded.slice(0, Math.max(0, decoded.indexOf(":"))) || "-";
  } catch {
    return "-";
  }
}

type Atom = (entry: AccessEntry, url: URL) => string;

const ATOMS: Record<string, Atom> = {
  h: (e) => e.info.remoteAddr.hostname || "-",
  l: () => "-",
  u: (e) => basicUser(e.request),
  t: (e) => formatAccessDate(e.started),
  r: (e, url) => `${e.request.method} ${url.pathname}${url.search} ${e.protocol}`,
  m: (e) => e.request.method,
  U: (_e, url) => url.pathname,
  q: (_e, url) => url.search.slice(1),
  H: (e) => e.protocol,
  s: (e) => String(e.response.status),
  B: (e) => e.response.headers.get("content-length") ?? "0",
  b: (e) => e.response.headers.get("content-length") ?? "-",
  f: (e) => e.request.headers.get("referer") ?? "-",
  a: (e) => e.request.headers.get("user-agent") ?? "-",
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
          ? (e) => e.request.headers.get(key) ?? "-"
          : kind === "o"
          ? (e) => e.response.headers.get(key) ?? "-"
          : () => env[key] ?? "-",
      );
    } else if (ATOMS[name]) {
      parts.push(ATOMS[name]);
    } else {
      throw new Error(`unknown atom "%(${name})s"`);
    }
  }
  parts.push(format.slice(last));
  return (entry) => {
    const url = new URL(entry.request.url);
    return parts.map((p) => (typeof p === "string" ? p : escapeValue(p(entry, url)))).join("");
  };
}

function jsonLine(e: AccessEntry): string {
  const url = new URL(e.request.url);
  return JSON.stringify({
    time: e.started.toISOString(),
    remote: e.info.remoteAddr.hostname || null,
    method: e.request.method,
    path: url.pathname,
    query: url.search.slice(1),
    protocol: e.protocol,
    status: e.response.status,
    bytes: e.response.headers.has("content-length") ? Number(e.response.headers.get("content-length")) : null,
    referer: e.request.headers.get("referer"),
    userAgent: e.request.headers.get("user-agent"),
    durationMs: Math.round(e.durationMs * 1000) / 1000,
    pid: e.pid,
  });
}

/** Wraps the handler so each answered request writes one line through `write`. */
export function withAccessLog(
  handler: FetchHandler,
  render: (entry: AccessEntry) => string,
  write: (line: string) => void,
  pid: number,
  onFailure: (failures: number, error: unknown) => void = () => {},
): FetchHandler {
  let failures = 0;
  const log = (request: Request, info: ConnInfo, response: Response, started: Date, t0: number) => {
    const protocol = (info as { incoming?: { httpVersion?: string } }).incoming?.httpVersion;
    try {
      write(render({
        request,
        response,
        info,
        started,
        durationMs: performance.now() - t0,
        pid,
        protocol: protocol ? `HTTP/${protocol}` : "HTTP/1.1",
      }));
    } catch (error) {
      // A full disk or a closed pipe loses the line, never the request.
      onFailure(++failures, error);
    }
    return response;
  };
  return (request, info) => {
    const started = new Date();
    const t0 = performance.now();
    const result = handler(request, info);
    if (result instanceof Promise) return result.then((response) => log(request, info, response, started, t0));
    return log(request, info, result, started, t0);
  };
}
