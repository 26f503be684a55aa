/** The native engine on Bun: Bun.serve on an SO_REUSEPORT socket per worker. */
import type { ConnInfo, FetchHandler, HttpServer, ServeListener, ServeOptions } from "../../src/runtime.ts";
import { closing } from "../_shared/closing.ts";

interface BunServer {
  requestIP(request: Request): { address: string; port: number; family: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void>;
}
interface BunServeOptions {
  hostname: string;
  port: number;
  reusePort: boolean;
  development: boolean;
  fetch(request: Request, server: BunServer): Response | Promise<Response>;
  error(error: Error): Response;
}
const Bun = (globalThis as unknown as { Bun: { serve(options: BunServeOptions): BunServer } }).Bun;

/** The app's second argument on Bun: the client address, plus the server as Hono's Bun helpers expect. */
class BunConnInfo implements ConnInfo {
  readonly server: BunServer;
  readonly #request: Request;
  constructor(request: Request, server: BunServer) {
    this.#request = request;
    this.server = server;
  }
  get remoteAddr(): ConnInfo["remoteAddr"] {
    const ip = this.server.requestIP(this.#request);
    return { transport: "tcp", hostname: ip?.address ?? "", port: ip?.port ?? 0 };
  }
}


export function serve(
  handler: FetchHandler,
  listeners: readonly ServeListener[],
  options: ServeOptions,
): Promise<HttpServer> {
  let draining = false;
  const servers = listeners.map((listener) => {
    if (listener.kind !== "reuse-port") throw new Error("Bun.serve cannot serve an inherited socket");
    return Bun.serve({
      hostname: listener.host,
      port: listener.port,
      reusePort: true,
      // Without it Bun answers an error with a page of source code and paths.
      development: false,
      fetch(request, server) {
        const result = handler(request, new BunConnInfo(request, server));
        // A response finished after the drain began is the last on its connection.
        if (result instanceof Promise) return result.then((response) => (draining ? closing(response) : response));
        return draining ? closing(result) : result;
      },
      error(error) {
        options.onError(error);
        return new Response("Internal Server Error\n", { status: 500 });
      },
    });
  });
  return Promise.resolve({
    async drain() {
      draining = true;
      await Promise.all(servers.map((server) => server.stop(false)));
    },
  });
}
