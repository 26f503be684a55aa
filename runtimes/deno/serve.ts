/** The native engine on Deno: Deno.serve on an SO_REUSEPORT socket per worker (needs --unstable-net). */
import type { ConnInfo, FetchHandler, HttpServer, ServeListener, ServeOptions } from "../../src/runtime.ts";
import { NativeDrain } from "../_shared/native-drain.ts";

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
  const drain = new NativeDrain();
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
        return drain.respond(result);
      },
    });
  });
  return Promise.resolve({
    async drain() {
      await drain.quiet();
      await Promise.all(servers.map((server) => server.shutdown()));
    },
  });
}
