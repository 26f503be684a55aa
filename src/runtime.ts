/**
 * The runtime port: everything the core needs from Node, Bun or Deno. Each
 * backend in `runtimes/<name>/` exports one value of {@linkcode Runtime}; the
 * core never imports a runtime module itself.
 */
import type { BindAddress } from "./config/bind.ts";
import type { Env } from "./config/settings.ts";
import type { Engine, HttpSettings, Rejection, WireFields, WireVerdict } from "./http/types.ts";
import type { Message, ServeListener } from "./messages.ts";

export type { ServeListener } from "./messages.ts";

/** The signals unicorn handles or sends. */
export type SignalName =
  | "SIGTERM"
  | "SIGINT"
  | "SIGQUIT"
  | "SIGHUP"
  | "SIGUSR1"
  | "SIGUSR2"
  | "SIGTTIN"
  | "SIGTTOU"
  | "SIGWINCH"
  | "SIGKILL"
  | "SIGABRT";

/** How workers get their connections. */
export type Strategy = "shared" | "reuse-port";

/** Which HTTP server parses requests in a worker: the runtime's own, or node:http. */
export type { Engine } from "./http/types.ts";

/** What a runtime can do, so the core chooses instead of guessing. */
export interface Capabilities {
  /** The arbiter can own a listening socket and hand it to workers. */
  readonly sharedListeners: boolean;
  /** Workers can each bind an SO_REUSEPORT socket. */
  readonly reusePort: boolean;
  /** The HTTP engines a worker can serve with (`--engine`), as the banner names them. */
  readonly engines: Readonly<Partial<Record<Engine, string>>>;
  /** The engine `--engine auto` picks. */
  readonly defaultEngine: Engine;
  /** Whether a worker's server goes on accepting once descriptors are free again after running out. */
  readonly acceptSurvivesEmfile: boolean;
  /** Which TLS settings the runtime's TLS stack honours (Deno's rustls takes neither). */
  readonly tls: { readonly ciphers: boolean; readonly clientCertificates: boolean };
  /** What an engine does not enforce, warned of at start-up when it is chosen. */
  readonly engineNotes?: Readonly<Partial<Record<Engine, string>>>;
}


/** A socket the arbiter bound and holds for its workers. */
export interface BoundListener {
  /** The address, with port 0 replaced by the port bound. */
  readonly address: BindAddress;
  /** The descriptor handed to workers. */
  readonly fd: number;
  /** Closes the arbiter's descriptor; a unix socket's path is removed unless `keepPath` (a new arbiter uses it). */
  close(keepPath?: boolean): void;
}

/** A peer's address. */
export interface RemoteAddr {
  readonly transport: "tcp" | "unix";
  readonly hostname: string;
  readonly port: number;
}

/** The connection info handed to the app as its second argument. */
export interface ConnInfo {
  /** The client: the peer, or the client a trusted proxy named (X-Forwarded-For, Forwarded, PROXY protocol). */
  readonly remoteAddr: RemoteAddr;
  /** The proxy's own address, when a trusted proxy named the client. */
  readonly proxy?: RemoteAddr;
}

/**
 * What an engine passes with each request: the app's {@linkcode ConnInfo}, and what only unicorn's
 * request pipeline reads (never part of the type apps see).
 */
export interface EngineInfo extends ConnInfo {
  /** The same value for every request of one connection, where the engine must be told not to serve it again. */
  readonly connection?: unknown;
  /** The head as it came on the wire and what the policy's check of it found (the node:http engine). */
  readonly wire?: { readonly head: WireHead; readonly fields: WireFields };
  /**
   * The HTTP version, where a native engine lets it be known or inferred ("1.0" for a request without
   * Host on Bun.serve, which refuses HTTP/1.1 without one itself); undefined when hidden.
   */
  readonly httpVersion?: string;
  /**
   * Makes the engine's own objects show the client and scheme a trusted proxy named (node:http: the
   * socket's `remoteAddress` and `encrypted`, which Express's `req.ip`, Koa's `ctx.ip`, Fastify's
   * `request.ip` and Hono's `getConnInfo` read), for the request being served.
   */
  expose?(client: RemoteAddr, secure: boolean | undefined): void;
  /**
   * Counts the body bytes written for this request's response, from now on; `done` is called once, when
   * the response is sent or its connection lost. Only engines that write the body themselves can
   * (node:http); the access log asks before the app runs.
   */
  whenSent?(done: (bytes: number) => void): void;
  /** True once the app took this request's connection over (Bun's `server.upgrade`): no Response follows. */
  readonly upgraded?: boolean;
}

/** A request head as the node:http engine parsed it, before any Request is built. */
export interface WireHead {
  readonly method: string;
  /** The request target exactly as sent. */
  readonly target: string;
  /** "1.1", "1.0", ... */
  readonly version: string;
  /** Names and values, alternating, as sent. */
  readonly rawHeaders: readonly string[];
  /**
   * Set by an engine that received the head as an HTTP/2 stream (node:http2): version "2.0" is then
   * accepted, the pseudo-fields left out of `rawHeaders` and `:authority` given as `Host`.
   */
  readonly http2?: true;
}

/** A Fetch-API handler: what a Fetch app becomes once loaded. */
export type FetchHandler = (request: Request, info: ConnInfo) => Response | Promise<Response>;

/** What an engine calls for each request: the worker's request pipeline (src/worker/pipeline.ts). */
export type EngineHandler = (request: Request, info: EngineInfo) => Response | Promise<Response>;

/**
 * A node:http request as unicorn reads it (`http.IncomingMessage` on every runtime), described by its
 * shape so that the core imports no runtime module.
 */
export interface NodeRequest {
  method?: string;
  url?: string;
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  readonly headers: Record<string, string | string[] | undefined>;
  readonly complete: boolean;
  destroy(error?: Error): unknown;
}

/** A node:http response as unicorn drives it (`http.ServerResponse`). */
export interface NodeResponse {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  shouldKeepAlive?: boolean;
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  writeHead(status: number, headers?: Record<string, string>): unknown;
  write(chunk: unknown, ...rest: unknown[]): boolean;
  end(...args: unknown[]): unknown;
  destroy(error?: Error): unknown;
  once(event: "finish" | "close", listener: () => void): unknown;
}

/** A Node request listener `(req, res)`: what a Node-style app (Express, Koa, Fastify, ...) becomes once loaded. */
export type NodeListener = (req: NodeRequest, res: NodeResponse) => void;

/**
 * node:http's `upgrade` listener `(req, socket, head)`: how a Node-style app takes a connection over
 * (a WebSocket by `ws`). The socket is node:net's; `head` the bytes read past the request's head.
 */
export type UpgradeListener = (req: NodeRequest, socket: unknown, head: Uint8Array) => void;

/** What the node:http engine calls for each request of a Node-style app (src/worker/node-pipeline.ts). */
export type NodeEngineHandler = (req: NodeRequest, res: NodeResponse, info: EngineInfo) => void;

/** What a worker serves: a Fetch pipeline (every engine), or a Node-style one (the node:http engine only). */
export type ServedApp =
  | {
    readonly interface: "fetch";
    readonly handler: EngineHandler;
    /** The app's WebSocket handlers (`export default { fetch, websocket }`), for engines that take them (Bun.serve). */
    readonly websocket?: unknown;
  }
  | {
    readonly interface: "node";
    readonly handler: NodeEngineHandler;
    /** The app's `upgrade` listeners (an exported http.Server's, as `ws` attaches them), when it has any. */
    readonly upgrade?: UpgradeListener;
    /**
     * Whether the app takes node:http2's compatibility request and response (Koa, Fastify, a plain
     * listener), so that HTTP/2 may be offered; Express replaces the request's prototype and fails on them.
     */
    readonly http2?: boolean;
  };

/** A running HTTP server inside a worker. */
export interface HttpServer {
  /**
   * Stops accepting, answers requests still to come on kept-alive connections
   * with `Connection: close`, closes idle connections, and resolves once no
   * connection is left.
   */
  drain(): Promise<void>;
  /** Connections accepted so far, where the engine counts them (to tell a stalled accept loop from an idle one). */
  accepted?(): number;
  /** Stops accepting while descriptors run out, for engines whose accept loop would spin (Bun). */
  pause?(): void;
  /** Accepts again once descriptors are free. */
  resume?(): void;
}

/** What a worker's server is told besides its listeners. */
export interface ServeOptions {
  readonly backlog: number;
  /** Limits, timeouts, proxies and TLS; `checkWire` is for engines that see the raw head. */
  readonly policy: {
    readonly settings: HttpSettings;
    checkWire(head: WireHead): WireVerdict;
  };
  /**
   * A request the engine refused itself, from its raw head (`head` undefined when it could not be
   * parsed), answered with `status`: logged as every refusal is (access log and error log).
   */
  readonly onRefused: (rejection: Rejection, head: WireHead | undefined, peer: RemoteAddr) => void;
  /** Called with each error the server itself reports (not the app's). */
  readonly onError: (error: unknown) => void;
  /** A WebSocket opened (+1) or closed (-1): the worker's count, for the metrics. */
  readonly onWebSocket?: (delta: number) => void;
  /**
   * A handshake the engine handed to the app's own `upgrade` listeners (node:http) once the policy
   * passed it, as the app answered it (101, or its refusal): logged and counted as a request (native
   * engines' handshakes go through the handler as any request).
   */
  readonly onUpgrade?: (head: WireHead, peer: RemoteAddr, status: number) => void;
  /** Called if the server stops accepting for good while not draining (its listener died): the worker is replaced. */
  readonly onStopped: (reason: string) => void;
}

/**
 * A two-way channel of JSON messages, one per line, over a unix socket: between the arbiter and one
 * worker (`Message`), or between the arbiter and `unicorn ctl` (src/arbiter/control-socket.ts).
 */
export interface Channel<T = Message> {
  send(message: T): void;
  /** Sends what is queued, then closes; resolves once the other side has it all (or after a short wait). */
  end(): Promise<void>;
  onMessage(listener: (message: T) => void): void;
  /** Called once when the other side goes away, the arbiter's death included. */
  onClose(listener: () => void): void;
  close(): void;
}

/** The arbiter's end of the control socket. */
export interface ControlServer {
  close(): Promise<void>;
}

/** A worker process as the arbiter sees it. */
export interface WorkerProcess {
  readonly pid: number;
  kill(signal: SignalName): void;
  /** Called once with the exit code, or the signal that ended it. */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
}

/** What the arbiter tells the runtime to start a worker, or a new arbiter (USR2). */
export interface SpawnSpec {
  /** A worker (the default), or a new arbiter run with this one's command line. */
  readonly role?: "worker" | "arbiter";
  readonly env: Readonly<Record<string, string>>;
  /** Descriptors the child gets as fds 3, 4, ...; in order. */
  readonly fds: readonly number[];
  /** A file the worker's stdout and stderr append to (`--capture-output`), instead of the arbiter's. */
  readonly output?: string;
  /** The user and group to run the worker as (`--user`, `--group`). */
  readonly uid?: number;
  readonly gid?: number;
}

/** How to import a module (`Runtime.importModule`). */
export interface ImportOptions {
  /** Import it anew rather than from the module cache (a config file read again on HUP). */
  readonly fresh?: boolean;
  /** A loader already known to be needed for this app (from an earlier worker), so no other is tried first. */
  readonly loader?: string;
}

/** A module as the runtime imported it. */
export interface ImportedModule {
  readonly exports: Record<string, unknown>;
  /**
   * Which loader compiled a TypeScript module, where the runtime has a choice (Node: its own type
   * stripping, or tsx), and why; undefined where the runtime runs TypeScript itself.
   */
  readonly loader?: { readonly name: string; readonly reason?: string };
}

/** A file the error log appends to. */
export interface LogFile {
  /** Appends one line; throws when it cannot. */
  write(line: string): void;
  reopen(): void;
}

/**
 * What is the same on every runtime: the process, its files and signals, the control channel, the
 * source watcher, the service manager. Implemented once, in `runtimes/_shared/host.ts`, through the
 * node: modules Node, Bun and Deno all provide.
 */
export interface Host {
  readonly pid: number;
  env(): Env;
  /** Command-line arguments after the script. */
  args(): string[];
  cwd(): string;
  /** Writes one line to standard error; throws if it cannot. */
  writeError(line: string): void;
  /**
   * Makes the app's standard output and error (console, process.stdout) unable to fail a request
   * or kill the worker: a write that fails (full disk, closed pipe) is dropped and reported.
   */
  guardOutput(onLost: (error: unknown) => void): void;
  /** Writes text and a newline to standard output (`--help`, `--version`). */
  writeOut(text: string): void;
  exit(code: number): never;
  onSignal(signal: SignalName, handler: () => void): void;
  /** Calls `handler` for an uncaught exception or unhandled rejection instead of crashing. */
  onUncaught(handler: (error: unknown, kind: "exception" | "rejection") => void): void;
  /** Sends a signal (0 only checks the process exists); false when the process is gone. */
  kill(pid: number, signal: SignalName | 0): boolean;
  /** The parent process's pid: a worker whose arbiter died sees it change. */
  parentPid(): number;
  /** This process's resident memory, in bytes (the last figure known when it cannot be read). */
  memoryRss(): number;
  /** The soft limit on open descriptors (RLIMIT_NOFILE), when known. */
  openFileLimit(): number | undefined;
  /** Whether this process has run out of descriptors right now (opening one fails with EMFILE or ENFILE). */
  descriptorsExhausted(): boolean;
  /** Connections waiting in the kernel for this process's listening sockets to accept them, when known. */
  acceptQueue(): number | undefined;
  /** Seconds since some fixed point, never going backwards. */
  monotonic(): number;
  /** Listens for channels at a unix socket; a peer whose line outgrows `maxLine` (1 MiB) is dropped. */
  listenControl<T = Message>(path: string, onChannel: (channel: Channel<T>) => void, options?: { maxLine?: number }): Promise<ControlServer>;
  makeTempDir(prefix: string): string;
  /** This process's pid namespace (Linux: the inode of /proc/self/ns/pid); undefined where unknown. */
  pidNamespace(): string | undefined;
  /** The folders in the temp folder whose names start with `prefix`, as full paths. */
  tempDirs(prefix: string): string[];
  removePath(path: string): void;
  connectControl<T = Message>(path: string): Promise<Channel<T>>;
  /** The folder for this user's runtime files: `$XDG_RUNTIME_DIR`, else the temp folder. */
  runtimeFolder(): { readonly path: string; readonly shared: boolean };
  /** This process's user id, where the platform has one. */
  uid(): number | undefined;
  /** Creates a folder (its parent must exist) that only its owner may enter, or checks the one there is ours; throws when it cannot. */
  makePrivateFolder(path: string): void;
  /** What is at a path, without following a symbolic link; undefined when nothing is. */
  pathKind(path: string): "socket" | "file" | "directory" | "other" | undefined;
  /** Removes one file or socket (never a folder); quiet when it is already gone. */
  removeFile(path: string): void;
  /** Sets a file's permission bits. */
  chmod(path: string, mode: number): void;
  /** The names of the files in a folder; empty when it cannot be read. */
  listFolder(path: string): string[];
  /** Sets the process title (`ps`, `top`), where the runtime can; false where it cannot. */
  setTitle(title: string): boolean;
  /** Sends one UDP datagram (StatsD); errors are passed to `onError`, never thrown. */
  sendUdp(host: string, port: number, data: string, onError: (error: unknown) => void): void;
  /** Connections waiting in the accept queues of every listening socket on these TCP ports (Linux), when known. */
  listenQueue(ports: readonly number[]): number | undefined;
  /** Serves plain HTTP GETs on `address` with `handler` (the arbiter's metrics endpoint). */
  serveHttp(
    address: BindAddress,
    handler: (path: string) => { status: number; type: string; body: string },
  ): Promise<ControlServer & { readonly port: number | undefined }>;
  resolvePath(base: string, path: string): string;
  /** The file path a `file:` URL names (percent-decoded, as the runtime converts it). */
  fileFromUrl(url: string): string;
  fileExists(path: string): boolean;
  /** A text file's content, or undefined when it cannot be read. */
  readTextFile(path: string): string | undefined;
  /** Gives a file to a user and group (the control socket and logs, to workers that drop privileges). */
  chown(path: string, uid: number, gid: number): void;
  /** Watches source folders (recursively) and files for `--reload`; returns a function that stops. */
  watchSources(roots: readonly string[], files: readonly string[], onChange: (file: string) => void): () => void;
  /**
   * Tells systemd about the service's state (`READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=...`) when
   * NOTIFY_SOCKET is set; `onError` hears of a failure to send. A no-op otherwise.
   */
  notify(fields: readonly string[], onError: (error: unknown) => void): void;
  /** Resolves once the notifications sent so far have reached the service manager, or after `ms`. */
  notifyDone(ms: number): Promise<void>;
  /** Sets the process umask (`--umask`); children inherit it. */
  setUmask(mask: number): void;
  /** Writes a text file whole; throws when it cannot. */
  writeTextFile(path: string, text: string): void;
  /** Opens a log file for appending lines; `reopen` starts on a fresh file after logrotate moved it. */
  openLogFile(path: string): LogFile;
}

/** What differs: each runtime's `runtimes/<name>/mod.ts` is this and nothing else. */
export interface Backend {
  readonly name: "node" | "bun" | "deno";
  readonly version: string;
  readonly capabilities: Capabilities;

  // Arbiter side.
  bindShared(address: BindAddress, backlog: number): Promise<BoundListener>;
  /** Checks a TCP address can be bound, and picks a port for port 0; binds nothing lasting. */
  probePort(address: BindAddress & { kind: "tcp" }): Promise<number>;
  spawnWorker(spec: SpawnSpec): WorkerProcess;
  /** Serves on the listeners with `settings.engine`; a Node-style app only ever goes to the node engine. */
  serve(app: ServedApp, listeners: readonly ServeListener[], options: ServeOptions): Promise<HttpServer>;
  /** Imports a module by absolute path, TypeScript included. */
  importModule(path: string, options?: ImportOptions): Promise<ImportedModule>;
}

/** The port itself: the host, and the backend of the runtime it runs on. */
export interface Runtime extends Host, Backend {}
