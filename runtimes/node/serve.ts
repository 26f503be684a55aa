/** Node serves with the node:http engine on the sockets the arbiter holds. */
import type { HttpServer, ServedApp, ServeListener, ServeOptions } from "../../src/runtime.ts";
import { serveNodeHttp } from "../_shared/node-http.ts";

export function serve(app: ServedApp, listeners: readonly ServeListener[], options: ServeOptions): Promise<HttpServer> {
  for (const listener of listeners) {
    if (listener.kind !== "fd") throw new Error(`the node engine serves inherited sockets, not ${listener.kind}`);
  }
  return serveNodeHttp(app, listeners, options);
}
