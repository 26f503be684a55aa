/**
 * Deno serves on an SO_REUSEPORT socket per worker (needs --unstable-net), with
 * node:http by default (Node's parser and timeouts: Deno.serve has none) or with
 * Deno.serve under `--engine native` (about 2.5 times less CPU per request).
 */
import type { ConnInfo, HttpServer, ServedApp, ServeListener, ServeOptions } from "../../src/runtime.ts";
import { originalOf } from "../../src/http/client.ts";
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
  handler(request: Request, info: { remoteAddr: ConnInfo["remoteAddr"] }): Response | Promise<Response>;
}
const Deno = (globalThis as unknown as {
  Deno: {
    serve(options: DenoServeOptions): DenoServer;
    readTextFileSync(path: string): string;
    upgradeWebSocket(request: Request, options?: unknown): unknown;
  };
}).Deno;

/**
 * `Deno.upgradeWebSocket` for apps served here: it takes over the connection of the request Deno.serve
 * made, even when the app holds one the policy rebuilt (a trusted proxy's `X-Forwarded-Proto`), as Hono's
 * hono/deno helper and apps calling it themselves do.
 */
function upgradeOriginals(): void {
  const upgrade = Deno.upgradeWebSocket.bind(Deno);
  Deno.upgradeWebSocket = (request, options) => upgrade(originalOf(request), options);
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
    // `_wantsUpgrade`): say what to do instead.
    Deno.upgradeWebSocket = () => {
      throw new Error(
        "Deno.upgradeWebSocket needs Deno.serve: start unicorn with --engine native, or attach ws to an exported http.Server (docs/websockets.md)",
      );
    };
    return serveNodeHttp(app, listeners, options);
  }
  const handler = app.handler;
  const drain = new NativeDrain();
  upgradeOriginals();
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
        const { hostname, port } = info.remoteAddr;
        const result = handler(request, {
          remoteAddr: info.remoteAddr,
          connection: `${hostname}|${port}`,
          // Asked only of a request without Host: Deno.serve hides the version and serves HTTP/1.0
          // and HTTP/1.1 alike without one, so it is taken for HTTP/1.0 rather than refuse a valid request.
          httpVersion: "1.0",
        });
        return drain.respond(result);
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
      await Promise.all(servers.map((server) => server.shutdown().catch(() => {})));
    },
  });
}
