/** The native engine on Deno: Deno.serve on an SO_REUSEPORT socket per worker (needs --unstable-net). */
import type { ConnInfo, FetchHandler, HttpServer, ServeListener, ServeOptions } from "../../src/runtime.ts";
import { closing } from "../_shared/closing.ts";

interface DenoServer {
  shutdown(): Promise<void>;
}
interface DenoServeOptions {
  hostname: string;
  port: number;
  reusePort: boolean;
  onListen(): void;
  onError(error: unknown): Response;
  handler(request: Request, info: ConnInfo): Response | Promise<Response>;
}
const Deno = (globalThis as unknown as { Deno: { serve(options: DenoServeOptions): DenoServer } }).Deno;


export function serve(
  handler: FetchHandler,
  listeners: readonly ServeListener[],
  options: ServeOptions,
): Promise<HttpServer> {
  let draining = false;
  const servers = listeners.map((listener) => {
    if (listener.kind !== "reuse-port") throw new Error("Deno.serve cannot serve an inherited socket");
    return Deno.serve({
      hostname: listener.host,
      port: listener.port,
      reusePort: true,
      onListen() {},
      onError(error) {
        options.onError(error);
        return new Response("Internal Server Error\n", { status: 500 });
      },
      // Deno's info already has the { remoteAddr } shape unicorn gives every app.
      handler(request, info) {
        const result = handler(request, info);
        // A response finished after the drain began is the last on its connection.
        if (result instanceof Promise) return result.then((response) => (draining ? closing(response) : response));
        return draining ? closing(result) : result;
      },
    });
  });
  return Promise.resolve({
    async drain() {
      draining = true;
      await Promise.all(servers.map((server) => server.shutdown()));
    },
  });
}
