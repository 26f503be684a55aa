/**
 * The `node:http` engine on inherited listeners. The Request/Response bridge is
 * @hono/node-server's: it builds the Request lazily and writes simple
 * Responses without a stream, the cheapest bridge measured on Node
 * (runtime-facts.md).
 */
import http from "node:http";
import net from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { ConnInfo, FetchHandler, HttpServer, ServeListener, ServeOptions } from "../../src/runtime.ts";

/** The app's second argument on Node: the client address plus Node's own objects, as Hono expects them. */
class NodeConnInfo implements ConnInfo {
  readonly incoming: http.IncomingMessage;
  readonly outgoing: http.ServerResponse;
  constructor(incoming: http.IncomingMessage, outgoing: http.ServerResponse) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }
  get remoteAddr(): ConnInfo["remoteAddr"] {
    const socket = this.incoming.socket;
    if (socket.remoteAddress === undefined) return { transport: "unix", hostname: "", port: 0 };
    return { transport: "tcp", hostname: socket.remoteAddress, port: socket.remotePort ?? 0 };
  }
}

/** How often a draining worker looks for idle connections to close, in ms. */
const DRAIN_POLL_MS = 100;

/** Node's own link from a socket to the response it is writing; unset while the socket is idle. */
type HttpSocket = net.Socket & { _httpMessage?: http.ServerResponse | null };

function listen(server: http.Server, fd: number, backlog: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ fd, backlog }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Serves `handler` on each inherited fd; one http.Server per listener. */
export async function serve(
  handler: FetchHandler,
  listeners: readonly ServeListener[],
  options: ServeOptions,
): Promise<HttpServer> {
  const bridge = getRequestListener(
    (request, env) => handler(request, new NodeConnInfo(env.incoming as http.IncomingMessage, env.outgoing as http.ServerResponse)),
    { overrideGlobalObjects: true },
  );
  const sockets = new Set<HttpSocket>();
  // No per-request bookkeeping while serving: the drain reads Node's own socket state instead.
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => bridge(req, res);
  const onDrainingRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.shouldKeepAlive = false;
    bridge(req, res);
  };

  const servers: http.Server[] = [];
  for (const listener of listeners) {
    if (listener.kind !== "fd") throw new Error(`the node engine serves inherited sockets, not ${listener.kind}`);
    const server = http.createServer(onRequest);
    server.on("connection", (socket: HttpSocket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
    server.on("clientError", (error, socket) => {
      options.onError(error);
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      else socket.destroy();
    });
    await listen(server, listener.fd, options.backlog);
    servers.push(server);
  }

  return {
    drain() {
      for (const server of servers) {
        server.off("request", onRequest);
        server.on("request", onDrainingRequest);
      }
      for (const socket of sockets) {
        const res = socket._httpMessage;
        if (res && !res.headersSent) res.shouldKeepAlive = false;
      }
      // net.Server#close stops accepting; http.Server#close would also drop idle
      // keep-alive sockets at once, racing clients that are sending on them.
      const closed = servers.map((server) =>
        new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()))
      );
      // A socket is closed once it has been idle, and has read nothing, for a whole poll:
      // a client that sends its next request meanwhile gets it answered with Connection: close.
      const lastRead = new Map<HttpSocket, number>();
      return new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          for (const socket of sockets) {
            const idle = !socket._httpMessage;
            if (idle && lastRead.get(socket) === socket.bytesRead) socket.destroy();
            else lastRead.set(socket, idle ? socket.bytesRead : -1);
          }
          if (sockets.size === 0) {
            clearInterval(poll);
            void Promise.all(closed).then(() => resolve());
          }
        }, DRAIN_POLL_MS);
      });
    },
  };
}
