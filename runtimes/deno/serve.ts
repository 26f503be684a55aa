/**
 * Deno serves on an SO_REUSEPORT socket per worker (needs --unstable-net), with
 * node:http by default (Node's parser and timeouts: Deno.serve has none) or with
 * Deno.serve under `--engine native` (about 2.5 times less CPU per request).
 */
import type { ConnInfo, EngineInfo, HttpServer, ServedApp, ServeListener, ServeOptions } from "../../src/runtime.ts";
import { originalOf } from "../../src/http/client.ts";
import type { HttpSettings } from "../../src/http/types.ts";
import { setUpgrader, type Upgraded, upgradeWebSocket, type UpgradeOptions } from "../../src/http/websocket.ts";
import { NativeDrain } from "../_shared/native-drain.ts";
import { serveNodeHttp } from "../_shared/node-http.ts";

interface DenoServer {
  shutdown(): Promise<void>;
  /** Settles when the server stops; rejects when its accept loop dies (EMFILE). */
  readonly finished: Promise<void>;
}
interface DenoServeOptions {
  hostname: string;
  port: number;
  reusePort: boolean;
  cert?: string;
  key?: string;
  onListen(): void;
  onError(error: unknown): Response;
  handler(request: Request, info: DenoHandlerInfo): Response | Promise<Response>;
}
interface DenoHandlerInfo {
  readonly remoteAddr: ConnInfo["remoteAddr"];
}
const Deno = (globalThis as unknown as {
  Deno: {
    serve(options: DenoServeOptions): DenoServer;
    readTextFileSync(path: string): string;
    upgradeWebSocket(request: Request, options?: unknown): unknown;
  };
}).Deno;

interface DenoSocket extends EventTarget {
  close(code?: number, reason?: string): void;
}

/**
 * `Deno.upgradeWebSocket` for apps served here: it takes over the connection of the request Deno.serve
 * made, even when the app holds one the policy rebuilt (a trusted proxy's `X-Forwarded-Proto`), as Hono's
 * hono/deno helper and apps calling it themselves do. unicorn's idle timeout is the default of Deno's
 * (a ping after half of it, 1001 at it); an app that passes its own keeps it. Deno has no message size
 * limit of its own below 64 MiB: a larger message than --websocket-max-message closes the socket with
 * 1009 before the app sees it (Deno has read it by then).
 */
function upgradeOriginals(settings: HttpSettings, count?: (delta: number) => void): void {
  const upgrade = Deno.upgradeWebSocket.bind(Deno);
  const idleTimeout = settings.websocketIdleTimeout;
  const max = settings.websocketMaxMessage;
  Deno.upgradeWebSocket = (request, options) => {
    const upgraded = upgrade(originalOf(request), { idleTimeout, ...(options as object | undefined) }) as { socket: DenoSocket };
    // First of the socket's listeners: the app's, added after, never see a message too big.
    const socket = upgraded.socket;
    // Deno answers with the subprotocol but its socket says "" (Deno 2.9): it says what was answered.
    const protocol = (options as { protocol?: string } | undefined)?.protocol;
    if (protocol && !(socket as { protocol?: string }).protocol) Object.defineProperty(socket, "protocol", { value: protocol });
    if (max > 0) socket.addEventListener("message", (event) => tooBig(event as MessageEvent, socket, max));
    if (count) {
      socket.addEventListener("open", () => {
        count(1);
        socket.addEventListener("close", () => count(-1), { once: true });
      }, { once: true });
    }
    return upgraded;
  };
  setUpgrader((request, options) => Deno.upgradeWebSocket(request, options) as Upgraded);
}

/** Closes `socket` with 1009 when the message is over `max` bytes, and hides it from the other listeners. */
function tooBig(event: MessageEvent, socket: DenoSocket, max: number): void {
  const data = event.data as string | ArrayBuffer | Blob;
  const size = typeof data !== "string" ? ("size" in data ? data.size : data.byteLength)
    // A string's UTF-8 size lies between its length and three times it: encode only when that decides nothing.
    : data.length > max || data.length * 3 <= max ? data.length : new TextEncoder().encode(data).byteLength;
  if (size <= max) return;
  event.stopImmediatePropagation();
  socket.close(1009, "Message too big");
}

/**
 * The app's second argument on Deno.serve. The peer is read at once, although Deno makes it by an op
 * (~350-400 ns a request, more than the rest of the policy's reads together): Deno's info cannot give
 * it once the request is answered or upgraded, and apps written for any runtime read `request.ip` or
 * `info.remoteAddr` then (in a WebSocket's open, in a streamed body). The connection's key is made only
 * when asked for (the policy asks once a refusal has been made).
 */
class DenoConnInfo implements EngineInfo {
  readonly remoteAddr: ConnInfo["remoteAddr"];
  constructor(info: DenoHandlerInfo) {
    this.remoteAddr = info.remoteAddr;
  }
  /** One connection's requests share their peer's address and port (the policy's memory of a refusal). */
  get connection(): string {
    return `${this.remoteAddr.hostname}|${this.remoteAddr.port}`;
  }
  /**
   * Asked only of a request without Host: Deno.serve hides the version and serves HTTP/1.0 and HTTP/1.1
   * alike without one, so it is taken for HTTP/1.0 rather than refuse a valid request.
   */
  get httpVersion(): string {
    return "1.0";
  }
}

export function serve(
  app: ServedApp,
  listeners: readonly ServeListener[],
  options: ServeOptions,
): Promise<HttpServer> {
  for (const listener of listeners) {
    if (listener.kind !== "reuse-port") throw new Error("a Deno worker cannot serve an inherited socket");
  }
  const settings = options.policy.settings;
  if (settings.engine === "node" || app.interface === "node") {
    // Deno's own upgrade cannot take over a node:http connection (it fails deep inside, naming
    // `_wantsUpgrade`): unicorn's does, with the same { socket, response }.
    Deno.upgradeWebSocket = (request, upgradeOptions) => upgradeWebSocket(request, upgradeOptions as UpgradeOptions);
    return serveNodeHttp(app, listeners, options);
  }
  const handler = app.handler;
  const drain = new NativeDrain();
  upgradeOriginals(settings, options.onWebSocket);
  const tls = settings.tls
    ? { cert: Deno.readTextFileSync(settings.tls.certfile), key: Deno.readTextFileSync(settings.tls.keyfile) }
    : {};
  const servers = listeners.map((listener) => {
    if (listener.kind !== "reuse-port") throw new Error("unreachable");
    return Deno.serve({
      hostname: listener.host,
      port: listener.port,
      reusePort: true,
      ...tls,
      onListen() {},
      onError(error) {
        options.onError(error);
        return new Response("Internal Server Error\n", { status: 500 });
      },
      handler(request, info) {
        return drain.respond(handler(request, new DenoConnInfo(info)));
      },
    });
  });
  // Out of descriptors, Deno.serve's accept loop dies for good and the worker would live on serving
  // nothing (measured): the worker is replaced instead.
  for (const server of servers) {
    server.finished.catch((error: unknown) => {
      const message = ((error as { message?: string })?.message ?? String(error)).replace(/^Error: /, "");
      if (!drain.draining) options.onStopped(`the listener died: ${message}`);
    });
  }
  return Promise.resolve({
    async drain() {
      await drain.quiet();
      await drain.answered();
      await Promise.all(servers.map((server) => server.shutdown().catch(() => {})));
    },
  });
}
