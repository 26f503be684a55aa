/**
 * The settings table: every setting declared once, with its flags, environment
 * variable, default, validation and documentation. The command line, `--help`,
 * the config file's checks, `--print-config` and `docs/settings.md` are all
 * derived from it. Adding a setting is one entry here and one field in
 * `Config`.
 */
import { LOG_LEVELS, type LogLevel } from "../log/logger.ts";
import { type BindAddress, parseBind } from "./bind.ts";
import type { Hooks } from "./hooks.ts";

/** The groups `--help` and the docs list settings under, in order. */
export const SECTIONS = [
  "Config file",
  "Server socket",
  "Worker processes",
  "Timeouts",
  "Request limits",
  "Proxies",
  "TLS",
  "Logging",
  "Process",
  "Metrics",
  "Control socket",
  "Server hooks",
] as const;

/** One of {@linkcode SECTIONS}. */
export type Section = (typeof SECTIONS)[number];

/** `--engine`: which HTTP server a worker serves with; `auto` lets the runtime choose. */
export const ENGINE_CHOICES = ["auto", "native", "node"] as const;
/** `--interface`: what kind of app `APP` is; `auto` tells by its shape. */
export const INTERFACE_CHOICES = ["auto", "fetch", "node"] as const;
/** `--proxy-protocol`. */
export const PROXY_PROTOCOLS = ["off", "v1", "v2", "auto"] as const;
/** `--cert-reqs`: whether clients must show a certificate. */
export const CERT_REQS = ["none", "optional", "required"] as const;

/** The resolved configuration a process runs with. */
export interface Config extends Hooks {
  /** The application: an `APP` spec, or the app itself when a config file holds it. */
  app: string | object | undefined;
  config: string | undefined;
  printConfig: boolean;
  checkConfig: boolean;
  bind: BindAddress[];
  backlog: number;
  reusePort: boolean | undefined;
  workers: number;
  workerConnections: number;
  engine: (typeof ENGINE_CHOICES)[number];
  interface: (typeof INTERFACE_CHOICES)[number];
  headerTimeout: number;
  bodyTimeout: number;
  maxRequests: number;
  maxRequestsJitter: number;
  maxWorkerMemory: number;
  preload: boolean;
  reload: boolean;
  reloadExtraFiles: string[];
  timeout: number;
  bootTimeout: number;
  gracefulTimeout: number;
  requestTimeout: number;
  keepAlive: number;
  websocketIdleTimeout: number;
  websocketMaxMessage: number;
  limitRequestLine: number;
  limitRequestFields: number;
  limitRequestFieldSize: number;
  limitRequestBody: number;
  forwardedAllowIps: string[];
  proxyProtocol: (typeof PROXY_PROTOCOLS)[number];
  proxyAllowFrom: string[];
  certfile: string | undefined;
  keyfile: string | undefined;
  caCerts: string | undefined;
  certReqs: (typeof CERT_REQS)[number];
  ciphers: string | undefined;
  accessLog: string | undefined;
  accessLogFormat: string;
  errorLog: string;
  logLevel: LogLevel;
  captureOutput: boolean;
  procName: string | undefined;
  pidfile: string | undefined;
  user: string | undefined;
  group: string | undefined;
  umask: number | undefined;
  chdir: string | undefined;
  env: string[];
  statsdHost: string | undefined;
  statsdPrefix: string;
  controlSocket: string | undefined;
  metricsBind: BindAddress | undefined;
  healthPath: string | undefined;
  shutdownDelay: number;
  controlSocketMode: number;
  noControlSocket: boolean;
  dogstatsdTags: string;
  enableBacklogMetric: boolean;
  initgroups: boolean;
  secureSchemeHeaders: Record<string, string>;
  forwarderHeaders: string[];
}

/** The environment a setting may read from. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One row of the settings table. */
export interface Setting {
  /** The key in `Config` and in a config file. */
  readonly name: keyof Config;
  readonly section: Section;
  /** Command-line flags, short first; empty for settings only a config file can hold. */
  readonly flags: readonly string[];
  /** The placeholder `--help` shows for the value; absent for a switch. */
  readonly metavar?: string;
  /** A flag that may repeat, each time adding to a list; in the environment, a comma-separated list. */
  readonly repeatable?: boolean;
  /** The documentation: one or two sentences. */
  readonly doc: string;
  /** The default. */
  readonly default: unknown;
  /** The default as `--help` and the docs show it. */
  readonly defaultText: string;
  /** An environment variable that replaces the default, as `PORT` and `WEB_CONCURRENCY` do. */
  readonly envDefault?: { readonly name: string; value(text: string): unknown };
  /** Whether unicorn acts on it yet; an inactive setting is accepted, warned about and ignored. */
  readonly active: boolean;
  /** Only on the command line (and UNICORN_CMD_ARGS): not in a config file. */
  readonly cliOnly?: boolean;
  /** What a config-file value must be, for the error message. */
  readonly expected: string;
  /** Turns the text of one flag or environment value into a value; throws a one-line reason. */
  parse(text: string): unknown;
  /** Checks a config-file value; throws a one-line reason. */
  fromFile(value: unknown): unknown;
}

type Options = Omit<Setting, "parse" | "fromFile" | "expected" | "defaultText" | "active"> & {
  defaultText?: string;
  active?: boolean;
};

/** What a flag's text or one environment item parses to: the value, or one item of a list value. */
type ItemOf<T> = T extends readonly (infer E)[] ? E | T : T;

/** How text and config-file values become a setting's value, typed by the `Config` field it fills. */
interface Kind<T> {
  readonly expected: string;
  parse(text: string): ItemOf<T>;
  fromFile(value: unknown): T;
}

function describeValue(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null || typeof value !== "object") return String(value);
  return "an object";
}

function fail(expected: string): never {
  throw new Error(expected);
}

/**
 * One row of the table. The row's kind must produce what its `Config` field holds (a type error
 * otherwise), and its literal options (`repeatable`, `cliOnly`) stay visible to the types derived
 * from the table.
 */
function define<const O extends Options>(kind: Kind<Config[O["name"]]>, options: O): Setting & O {
  return {
    active: true,
    defaultText: options.default === undefined ? "none" : String(options.default),
    ...options,
    expected: kind.expected,
    parse: kind.parse,
    fromFile: kind.fromFile,
  };
}

function wholeNumber(min: number) {
  const expected = `a whole number of at least ${min}`;
  const check = (n: number) => (Number.isInteger(n) && n >= min ? n : fail(expected));
  return {
    expected,
    parse: (text: string) => (/^\s*\d+\s*$/.test(text) ? check(Number(text)) : fail(expected)),
    fromFile: (value: unknown) => (typeof value === "number" ? check(value) : fail(expected)),
  };
}

const SECONDS = {
  expected: "a number of seconds of at least 0",
  parse(text: string): number {
    const n = Number(text);
    return text.trim() !== "" && Number.isFinite(n) && n >= 0 ? n : fail(SECONDS.expected);
  },
  fromFile: (value: unknown) =>
    typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : fail(SECONDS.expected),
};

const SWITCH = {
  expected: "true or false",
  parse(text: string): boolean {
    const t = text.toLowerCase();
    if (["", "true", "1", "yes", "on"].includes(t)) return true;
    if (["false", "0", "no", "off"].includes(t)) return false;
    return fail(SWITCH.expected);
  },
  fromFile: (value: unknown) => (typeof value === "boolean" ? value : fail(SWITCH.expected)),
};

const TEXT = {
  expected: "a string",
  parse: (text: string) => text,
  fromFile: (value: unknown) => (typeof value === "string" ? value : fail(TEXT.expected)),
};

function choice<T extends string>(choices: readonly T[]): Kind<T> {
  const expected = `one of ${choices.join(", ")}`;
  const check = (text: string): T => (choices.includes(text.toLowerCase() as T) ? text.toLowerCase() as T : fail(expected));
  // (A choice is never a list: its item is itself.)
  return { expected, parse: check as (text: string) => ItemOf<T>, fromFile: (value: unknown) => (typeof value === "string" ? check(value) : fail(expected)) };
}

/** A list, given as a repeated flag, a comma-separated environment value, or an array in a file. */
function list<E>(item: (text: string) => E | E[], expected: string): Kind<E[]> {
  return {
    expected: `${expected}, or an array of them`,
    parse: item,
    fromFile(value: unknown): E[] {
      const items = Array.isArray(value) ? value : [value];
      return items.flatMap((v) => (typeof v === "string" ? item(v) : fail(`${expected}, or an array of them`)));
    },
  };
}

const HEADER_MAP = {
  expected: "an object of header names to values, such as { \"x-forwarded-proto\": \"https\" }",
  parse: () => fail("an object, in a config file"),
  fromFile(value: unknown): Record<string, string> {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return fail(HEADER_MAP.expected);
    for (const v of Object.values(value)) if (typeof v !== "string") fail(HEADER_MAP.expected);
    return value as Record<string, string>;
  },
};

const HOOK = {
  expected: "a function",
  parse: () => fail("a function, in a config file"),
  // Any function: its parameters are the hook's, which defineConfig's types check in a typed config.
  fromFile: (value: unknown): never => (typeof value === "function" ? value as never : fail(HOOK.expected)),
};

function bindItem(text: string): BindAddress {
  try {
    return parseBind(text);
  } catch (error) {
    return fail((error as Error).message);
  }
}

/** One address (`--metrics-bind`): as `--bind` takes them. */
const BIND_ONE = {
  expected: "an address such as 127.0.0.1:9100, [::1]:9100 or unix:PATH",
  parse: bindItem,
  fromFile: (value: unknown) => (typeof value === "string" ? bindItem(value) : fail(BIND_ONE.expected)),
};

/** A URL path (`--health-path`). */
const URL_PATH = {
  expected: "a path starting with /, such as /healthz",
  parse: (text: string) => (/^\/[^?#\s]*$/.test(text) && text !== "/" ? text : fail(URL_PATH.expected)),
  fromFile: (value: unknown) => (typeof value === "string" ? URL_PATH.parse(value) : fail(URL_PATH.expected)),
};

function ipList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function keyValue(text: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*=/.test(text) ? text : fail("KEY=VALUE");
}

function octal(text: string): number {
  return /^0?o?[0-7]{1,4}$/i.test(text.trim()) ? parseInt(text.trim().replace(/^0o/i, ""), 8) : fail("an octal mode such as 022");
}

/** A file mode: octal text on the command line (022), a number in a config file (0o022). */
const OCTAL = {
  expected: "an octal mode such as 022, or a number such as 0o022 in a config file",
  parse: octal,
  fromFile: (value: unknown) =>
    typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0o7777 ? value : fail(OCTAL.expected),
};

const APP_KIND = {
  expected: "an APP string such as app.ts:name, or the app itself (an object with fetch, or a function)",
  parse: (text: string) => text,
  fromFile: (value: unknown) =>
    typeof value === "string" || typeof value === "function" || (typeof value === "object" && value !== null)
      ? value
      : fail(APP_KIND.expected),
};

function hook(name: keyof Hooks, doc: string): Setting {
  return define(HOOK, { name, section: "Server hooks", flags: [], doc, default: undefined });
}

/** The settings, in the order `--help` and the docs list them. */
// `as const`: each row keeps its literal name and options, which the types below read.
const ROWS = [
  define(TEXT, {
    name: "config",
    section: "Config file",
    flags: ["-c", "--config"],
    metavar: "PATH",
    doc: "The config file: a .ts, .js or .mjs module whose default export is the settings (see defineConfig), or .json.",
    default: undefined,
    defaultText: "./unicorn.config.ts, .js, .mjs or .json, the first that exists",
    cliOnly: true,
  }),
  define(APP_KIND, {
    name: "app",
    section: "Config file",
    flags: [],
    doc: "The application, when the command line names none: an APP string, or, in a .ts/.js config, the app itself.",
    default: undefined,
  }),
  define(SWITCH, {
    name: "printConfig",
    section: "Config file",
    flags: ["--print-config"],
    doc: "Print every resolved setting and where its value came from (default, file, env, cli), then exit.",
    default: false,
    cliOnly: true,
  }),
  define(SWITCH, {
    name: "checkConfig",
    section: "Config file",
    flags: ["--check-config"],
    doc: "Load the config and the app, then exit 0, or 2 (config) or 3/4 (app) with the reason.",
    default: false,
    cliOnly: true,
  }),
  define(list(bindItem, "an address"), {
    name: "bind",
    section: "Server socket",
    flags: ["-b", "--bind"],
    metavar: "ADDRESS",
    repeatable: true,
    doc: "Address to listen on: HOST:PORT, HOST, [IPV6]:PORT, unix:PATH or fd://N. Repeat for several.",
    default: [parseBind("127.0.0.1:8000")],
    defaultText: "127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set",
    envDefault: { name: "PORT", value: (text) => [bindItem(`0.0.0.0:${text}`)] },
  }),
  define(wholeNumber(1), {
    name: "backlog",
    section: "Server socket",
    flags: ["--backlog"],
    metavar: "INT",
    doc: "The most connections the kernel queues before refusing new ones.",
    default: 2048,
  }),
  define(SWITCH, {
    name: "reusePort",
    section: "Server socket",
    flags: ["--reuse-port"],
    doc: "Each worker binds its own SO_REUSEPORT socket and serves it with its --engine. " +
      "The default on Bun and Deno; not available on Node, whose backend serves the arbiter's shared sockets " +
      "(see docs/listeners.md).",
    default: undefined,
    defaultText: "the runtime's default",
  }),
  define(wholeNumber(1), {
    name: "workers",
    section: "Worker processes",
    flags: ["-w", "--workers"],
    metavar: "INT",
    doc: "The number of worker processes serving requests.",
    default: 1,
    defaultText: "$WEB_CONCURRENCY or 1",
    envDefault: { name: "WEB_CONCURRENCY", value: (text) => wholeNumber(1).parse(text) },
  }),
  define(wholeNumber(1), {
    name: "workerConnections",
    section: "Worker processes",
    flags: ["--worker-connections"],
    metavar: "INT",
    doc: "The most connections one worker holds open; a connection past it is closed at once (node:http engine).",
    default: 1000,
  }),
  define(choice(ENGINE_CHOICES), {
    name: "engine",
    section: "Worker processes",
    flags: ["--engine"],
    metavar: "ENGINE",
    doc: "The HTTP server in each worker: native (Bun.serve, Deno.serve), node (node:http) or auto (node on Node and Deno, " +
      "native on Bun; node for a Node-style app everywhere).",
    default: "auto",
  }),
  define(choice(INTERFACE_CHOICES), {
    name: "interface",
    section: "Worker processes",
    flags: ["--interface"],
    metavar: "KIND",
    doc: "What APP is: fetch (a Fetch handler: { fetch(request) } or (request) => Response), node (a Node " +
      "request listener (req, res), an Express, Koa, Fastify or NestJS app, an http.Server) or auto (told by " +
      "its shape; the log says which). Node-style apps are served by the node:http engine on every runtime.",
    default: "auto",
  }),
  define(wholeNumber(0), {
    name: "maxRequests",
    section: "Worker processes",
    flags: ["--max-requests"],
    metavar: "INT",
    doc: "Replace a worker after it has served this many requests, to bound leaks. 0 disables.",
    default: 0,
  }),
  define(wholeNumber(0), {
    name: "maxRequestsJitter",
    section: "Worker processes",
    flags: ["--max-requests-jitter"],
    metavar: "INT",
    doc: "Add a random 0 to this many requests to each worker's --max-requests, so they do not recycle at once.",
    default: 0,
  }),
  define(wholeNumber(0), {
    name: "maxWorkerMemory",
    section: "Worker processes",
    flags: ["--max-worker-memory"],
    metavar: "MB",
    doc: "Replace a worker whose resident memory exceeds this many MiB. 0 disables.",
    default: 0,
  }),
  define(SWITCH, {
    name: "preload",
    section: "Worker processes",
    flags: ["--preload"],
    doc: "Load the app once in the arbiter before starting workers, to fail fast. Workers still load their own copy.",
    default: false,
    active: false,
  }),
  define(SWITCH, {
    name: "reload",
    section: "Worker processes",
    flags: ["--reload"],
    doc: "Restart the workers when a source file under the app's folder changes. For development.",
    default: false,
  }),
  define(list(TEXT.parse, "a path"), {
    name: "reloadExtraFiles",
    section: "Worker processes",
    flags: ["--reload-extra-file"],
    metavar: "PATH",
    repeatable: true,
    doc: "A further file to watch with --reload. Repeat for several.",
    default: [],
    defaultText: "none",
  }),
  define(SECONDS, {
    name: "timeout",
    section: "Timeouts",
    flags: ["-t", "--timeout"],
    metavar: "SECONDS",
    doc: "A worker whose event loop sends no heartbeat for this long is killed and replaced. 0 disables.",
    default: 30,
  }),
  define(SECONDS, {
    name: "bootTimeout",
    section: "Timeouts",
    flags: ["--boot-timeout"],
    metavar: "SECONDS",
    doc: "How long a worker may take to load the app and start serving before it is killed. 0 uses --timeout.",
    default: 0,
  }),
  define(SECONDS, {
    name: "gracefulTimeout",
    section: "Timeouts",
    flags: ["--graceful-timeout"],
    metavar: "SECONDS",
    doc: "On TERM, how long workers may finish in-flight requests before they are killed.",
    default: 30,
  }),
  define(SECONDS, {
    name: "requestTimeout",
    section: "Timeouts",
    flags: ["--request-timeout"],
    metavar: "SECONDS",
    doc: "A request running longer is answered 503 and its worker keeps serving. 0 disables.",
    default: 0,
  }),
  define(SECONDS, {
    name: "keepAlive",
    section: "Timeouts",
    flags: ["--keep-alive"],
    metavar: "SECONDS",
    doc: "How long an idle keep-alive connection stays open. Longer than a load balancer's idle timeout (AWS ALB and nginx: 60 s), so the balancer always closes first.",
    default: 65,
  }),
  define(SECONDS, {
    name: "websocketIdleTimeout",
    section: "Timeouts",
    flags: ["--websocket-idle-timeout"],
    metavar: "SECONDS",
    doc: "A WebSocket whose client has sent nothing, not even the answer to a ping, for this long is closed. Pings go out after half of it, so a live client that stays quiet is kept. 0 disables.",
    default: 60,
  }),
  define(SECONDS, {
    name: "headerTimeout",
    section: "Timeouts",
    flags: ["--header-timeout"],
    metavar: "SECONDS",
    doc: "How long a client may take to send a request's head; slower is answered 408 and closed. 0 disables.",
    default: 10,
  }),
  define(SECONDS, {
    name: "bodyTimeout",
    section: "Timeouts",
    flags: ["--body-timeout"],
    metavar: "SECONDS",
    doc: "How long a client may take to send a whole request, body included; slower is answered 408 and closed. 0 disables.",
    default: 300,
  }),
  define(wholeNumber(0), {
    name: "limitRequestLine",
    section: "Request limits",
    flags: ["--limit-request-line"],
    metavar: "BYTES",
    doc: "The longest request line; longer is answered 414. 0 means no limit.",
    default: 4094,
  }),
  define(wholeNumber(0), {
    name: "limitRequestFields",
    section: "Request limits",
    flags: ["--limit-request-fields"],
    metavar: "INT",
    doc: "The most header fields in a request; more is answered 431. 0 means no limit.",
    default: 100,
  }),
  define(wholeNumber(0), {
    name: "limitRequestFieldSize",
    section: "Request limits",
    flags: ["--limit-request-field-size"],
    metavar: "BYTES",
    doc: "The longest header field (name, colon, space, value); longer is answered 431. 0 means no limit.",
    default: 8190,
  }),
  define(wholeNumber(0), {
    name: "limitRequestBody",
    section: "Request limits",
    flags: ["--limit-request-body"],
    metavar: "BYTES",
    doc: "The largest request body; larger is answered 413. 0 means no limit.",
    default: 0,
  }),
  define(wholeNumber(0), {
    name: "websocketMaxMessage",
    section: "Request limits",
    flags: ["--websocket-max-message"],
    metavar: "BYTES",
    doc: "The largest message a WebSocket client may send; larger closes the WebSocket with 1009 (message too big). 0 leaves the runtime's own limit.",
    default: 16 * 1024 * 1024,
  }),
  define(list(TEXT.parse, "an IP address or CIDR"), {
    name: "forwardedAllowIps",
    section: "Proxies",
    flags: ["--forwarded-allow-ips"],
    metavar: "IPS",
    repeatable: true,
    doc: "Peers trusted to set X-Forwarded-* and Forwarded headers; * trusts all. Unix socket peers are always trusted.",
    default: ["127.0.0.1", "::1"],
    defaultText: "$FORWARDED_ALLOW_IPS or 127.0.0.1,::1",
    envDefault: { name: "FORWARDED_ALLOW_IPS", value: ipList },
  }),
  define(choice(PROXY_PROTOCOLS), {
    name: "proxyProtocol",
    section: "Proxies",
    flags: ["--proxy-protocol"],
    metavar: "MODE",
    doc: "Read a PROXY protocol header (off, v1, v2 or auto) from peers in --proxy-allow-from.",
    default: "off",
  }),
  define(list(TEXT.parse, "an IP address or CIDR"), {
    name: "proxyAllowFrom",
    section: "Proxies",
    flags: ["--proxy-allow-from"],
    metavar: "IPS",
    repeatable: true,
    doc: "Peers allowed to send a PROXY protocol header.",
    default: ["127.0.0.1", "::1"],
    defaultText: "127.0.0.1,::1",
  }),
  define(TEXT, {
    name: "certfile",
    section: "TLS",
    flags: ["--certfile"],
    metavar: "PATH",
    doc: "The server certificate (PEM); with --keyfile, serves HTTPS.",
    default: undefined,
  }),
  define(TEXT, {
    name: "keyfile",
    section: "TLS",
    flags: ["--keyfile"],
    metavar: "PATH",
    doc: "The certificate's private key (PEM).",
    default: undefined,
  }),
  define(TEXT, {
    name: "caCerts",
    section: "TLS",
    flags: ["--ca-certs"],
    metavar: "PATH",
    doc: "CA certificates (PEM) that client certificates are checked against.",
    default: undefined,
  }),
  define(choice(CERT_REQS), {
    name: "certReqs",
    section: "TLS",
    flags: ["--cert-reqs"],
    metavar: "MODE",
    doc: "Whether clients must present a certificate: none, optional or required.",
    default: "none",
  }),
  define(TEXT, {
    name: "ciphers",
    section: "TLS",
    flags: ["--ciphers"],
    metavar: "LIST",
    doc: "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are the runtime's).",
    default: undefined,
  }),
  define(TEXT, {
    name: "accessLog",
    section: "Logging",
    flags: ["--access-logfile"],
    metavar: "PATH",
    doc: "Where to write the access log; - for standard output.",
    default: undefined,
  }),
  define(TEXT, {
    name: "accessLogFormat",
    section: "Logging",
    flags: ["--access-logformat"],
    metavar: "FORMAT",
    doc: "The access-log line from Gunicorn's atoms: h l u t r m U q H s B b f a T M D L p, {header}i, " +
      "{header}o, {VAR}e, each as %(x)s and escaped, and %(peer)s; or json for one JSON object per line. " +
      "h is the client unicorn decided (behind a trusted proxy, the client it named), peer the connection's peer.",
    default: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
  }),
  define(TEXT, {
    name: "errorLog",
    section: "Logging",
    flags: ["--error-logfile", "--log-file"],
    metavar: "PATH",
    doc: "Where to write the error log; - for standard error.",
    default: "-",
  }),
  define(choice(LOG_LEVELS), {
    name: "logLevel",
    section: "Logging",
    flags: ["--log-level"],
    metavar: "LEVEL",
    doc: `The least severe level written to the error log: ${LOG_LEVELS.join(", ")}.`,
    default: "info",
  }),
  define(SWITCH, {
    name: "captureOutput",
    section: "Logging",
    flags: ["--capture-output"],
    doc: "Send the workers' standard output and error (the app's console) to the --error-logfile file.",
    default: false,
  }),
  define(TEXT, {
    name: "procName",
    section: "Process",
    flags: ["-n", "--name"],
    metavar: "NAME",
    doc: "The process title: unicorn: arbiter [NAME] and unicorn: worker [NAME] (Node and Bun; Deno cannot set it); also names the default control socket.",
    default: undefined,
  }),
  define(TEXT, {
    name: "pidfile",
    section: "Process",
    flags: ["-p", "--pid"],
    metavar: "PATH",
    doc: "Write the arbiter's pid to this file; removed at exit.",
    default: undefined,
  }),
  define(TEXT, {
    name: "user",
    section: "Process",
    flags: ["-u", "--user"],
    metavar: "USER",
    doc: "Run workers as this user (name or uid); the arbiter binds first.",
    default: undefined,
  }),
  define(TEXT, {
    name: "group",
    section: "Process",
    flags: ["-g", "--group"],
    metavar: "GROUP",
    doc: "Run workers as this group (name or gid).",
    default: undefined,
  }),
  define(OCTAL, {
    name: "umask",
    section: "Process",
    flags: ["-m", "--umask"],
    metavar: "MODE",
    doc: "The umask for files unicorn creates, unix sockets included.",
    default: undefined,
  }),
  define(TEXT, {
    name: "chdir",
    section: "Process",
    flags: ["--chdir"],
    metavar: "PATH",
    doc: "Change to this directory before loading the app.",
    default: undefined,
    active: false,
  }),
  define(list(keyValue, "KEY=VALUE"), {
    name: "env",
    section: "Process",
    flags: ["-e", "--env"],
    metavar: "KEY=VALUE",
    repeatable: true,
    doc: "Set an environment variable in the workers. Repeat for several.",
    default: [],
    defaultText: "none",
  }),
  define(TEXT, {
    name: "statsdHost",
    section: "Metrics",
    flags: ["--statsd-host"],
    metavar: "HOST:PORT",
    doc: "Send StatsD metrics (Gunicorn's names: requests, request.duration, request.status.Nxx, workers) over UDP to this address, once a second.",
    default: undefined,
  }),
  define(TEXT, {
    name: "statsdPrefix",
    section: "Metrics",
    flags: ["--statsd-prefix"],
    metavar: "PREFIX",
    doc: "A prefix for every StatsD metric name.",
    default: "",
    defaultText: "none",
  }),
  define(TEXT, {
    name: "controlSocket",
    section: "Control socket",
    flags: ["--control-socket"],
    metavar: "PATH",
    doc: "The unix socket `unicorn ctl` talks to (mode --control-socket-mode, in a folder only its owner can enter). " +
      "Default: $XDG_RUNTIME_DIR/unicorn/NAME.ctl (or the temp folder's unicorn-UID/), NAME being --name or the first address.",
    default: undefined,
  }),
  define(HEADER_MAP, {
    name: "secureSchemeHeaders",
    section: "Proxies",
    flags: [],
    doc: "Headers that, from a peer in --forwarded-allow-ips, mark the request as https; conflicting values are 400.",
    default: { "x-forwarded-proto": "https", "x-forwarded-protocol": "ssl", "x-forwarded-ssl": "on" },
    defaultText: "x-forwarded-proto: https, x-forwarded-protocol: ssl, x-forwarded-ssl: on",
  }),
  define(list(TEXT.parse, "a header name"), {
    name: "forwarderHeaders",
    section: "Proxies",
    flags: ["--forwarder-headers"],
    metavar: "HEADERS",
    repeatable: true,
    doc: "Further headers a trusted proxy may set and the app may believe (Gunicorn's SCRIPT_NAME, PATH_INFO).",
    default: [],
    defaultText: "none",
    active: false,
  }),
  define(SWITCH, {
    name: "initgroups",
    section: "Process",
    flags: ["--initgroups"],
    doc: "Give workers the supplementary groups of --user (by default they have none).",
    default: false,
    active: false,
  }),
  define(TEXT, {
    name: "dogstatsdTags",
    section: "Metrics",
    flags: ["--dogstatsd-tags"],
    metavar: "TAGS",
    doc: "DogStatsD tags (k:v,k2:v2) added to every metric.",
    default: "",
    defaultText: "none",
  }),
  define(SWITCH, {
    name: "enableBacklogMetric",
    section: "Metrics",
    flags: ["--enable-backlog-metric"],
    doc: "Report the length of the listeners' accept queues (Linux) as a metric (Prometheus, StatsD).",
    default: false,
  }),
  define(OCTAL, {
    name: "controlSocketMode",
    section: "Control socket",
    flags: ["--control-socket-mode"],
    metavar: "MODE",
    doc: "The permissions of the control socket.",
    default: 0o600,
    defaultText: "600",
  }),
  define(SWITCH, {
    name: "noControlSocket",
    section: "Control socket",
    flags: ["--no-control-socket"],
    doc: "Do not create the control socket.",
    default: false,
  }),
  define(BIND_ONE, {
    name: "metricsBind",
    section: "Metrics",
    flags: ["--metrics-bind"],
    metavar: "ADDRESS",
    doc: "Serve Prometheus metrics, aggregated over the workers by the arbiter, at http://ADDRESS/metrics. Off by default.",
    default: undefined,
  }),
  define(URL_PATH, {
    name: "healthPath",
    section: "Metrics",
    flags: ["--health-path"],
    metavar: "PATH",
    doc: "Answer GET PATH (readiness: 200, or 503 once the server stops; a worker leaving alone, as in a reload, still says 200) and PATH/live (liveness: 200) before the app. Off by default.",
    default: undefined,
  }),
  define(SECONDS, {
    name: "shutdownDelay",
    section: "Timeouts",
    flags: ["--shutdown-delay"],
    metavar: "SECONDS",
    doc: "On TERM, keep serving this long with --health-path answering 503 before the listeners close, so load balancers stop sending first.",
    default: 0,
  }),
  hook("onStarting", "Arbiter, before the listeners are bound: (server)."),
  hook("whenReady", "Arbiter, once the listeners are bound, before the first workers start: (server)."),
  hook("onReload", "Arbiter, on HUP, after the config is read again and before new workers start: (server)."),
  hook("preFork", "Arbiter, just before a worker is started: (server, worker)."),
  hook("postFork", "Worker, first thing after it starts, before the app is loaded: (worker)."),
  hook("postWorkerInit", "Worker, after the app is loaded, before it serves: (worker)."),
  hook("workerInt", "Worker, on INT or QUIT, before it exits: (worker)."),
  hook("workerAbort", "Worker, on ABRT, sent when it missed its heartbeat: (worker)."),
  hook("preRequest", "Worker, before each request reaches the app: (worker, request)."),
  hook("postRequest", "Worker, after the app has answered: (worker, request, response)."),
  hook("childExit", "Arbiter, after a worker has exited: (server, worker)."),
  hook("workerExit", "Worker, as it exits: (worker)."),
  hook("nworkersChanged", "Arbiter, when the number of workers to keep changes: (server, newValue, oldValue)."),
  hook("onExit", "Arbiter, just before it exits: (server)."),
] as const;
/** Every setting, in the order `--help` and the docs list them. */
export const SETTINGS: readonly Setting[] = ROWS;

/** Settings whose value is a list: a repeated flag, a comma-separated variable, an array or a string in a file. */
export type ListKey = "bind" | "reloadExtraFiles" | "forwardedAllowIps" | "proxyAllowFrom" | "env" | "forwarderHeaders";
/** Settings only the command line can give. */
export type CliOnlyKey = "config" | "printConfig" | "checkConfig";

// The two unions above are spelled out for the published types (JSR wants them explicit); these
// lines make the build fail when they and the table disagree (a list setting added to one only).
type Row = (typeof ROWS)[number];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const LIST_KEYS_ARE_THE_TABLES: Same<ListKey, Extract<Row, { readonly repeatable: true }>["name"]> = true;
const CLI_ONLY_KEYS_ARE_THE_TABLES: Same<CliOnlyKey, Extract<Row, { readonly cliOnly: true }>["name"]> = true;
void LIST_KEYS_ARE_THE_TABLES;
void CLI_ONLY_KEYS_ARE_THE_TABLES;


/** The table by name. */
export const SETTINGS_BY_NAME: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.name, s]));

/** The environment variable that sets a setting: `UNICORN_MAX_REQUESTS` for `maxRequests`. */
export function envName(setting: Setting): string {
  return `UNICORN_${setting.name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export { describeValue };
