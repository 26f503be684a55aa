/**
 * The client unicorn decided, where the frameworks look for it. The policy decides who the client is
 * (the peer, or the client a trusted proxy named); apps read it as `info.remoteAddr`, and the
 * frameworks' own helpers read it from places unicorn fills in:
 *
 * | helper | reads | filled in by |
 * | --- | --- | --- |
 * | h3 v2 `getRequestIP`, srvx-style `request.ip` | `request.ip` | a getter on `Request.prototype` ({@linkcode installRequestIp}) |
 * | Elysia `server.requestIP(request)` | the app's `server` | {@linkcode requestIpServer}, set on the app when it has none |
 * | Hono `getConnInfo` (Bun) | `env.server.requestIP(request)` | the Bun engine's server view, through {@linkcode connInfoOf} |
 * | Hono `getConnInfo` (Deno) | `env.remoteAddr` | the info the app gets |
 * | Hono `getConnInfo` (Node), Express `req.ip`, Koa `ctx.ip`, Fastify `request.ip` | `socket.remoteAddress` | the node:http engine (`EngineInfo.expose`) |
 */
import type { ConnInfo, RemoteAddr } from "../runtime.ts";

/** Where the decided info rides on a Request: a symbol property, cheaper per request than a WeakMap entry. */
const CONN_INFO = Symbol.for("unicorn.connInfo");

type Carrier = Request & { [CONN_INFO]?: ConnInfo };

/** Notes on `request` the info unicorn decided for it. */
export function setConnInfo(request: Request, info: ConnInfo): void {
  (request as Carrier)[CONN_INFO] = info;
}

/** The info unicorn decided for `request`, once the policy has run. */
export function connInfoOf(request: Request): ConnInfo | undefined {
  return (request as Carrier)[CONN_INFO];
}

/** Where a Request the policy rebuilt (a trusted proxy's scheme) keeps the engine's own. */
const ORIGINAL = Symbol.for("unicorn.original");

/** Notes on `rebuilt` the engine's request it was made from. */
export function setOriginal(rebuilt: Request, original: Request): void {
  (rebuilt as Request & { [ORIGINAL]?: Request })[ORIGINAL] = original;
}

/**
 * The engine's own request behind `request`: what a runtime's upgrade (`Deno.upgradeWebSocket`,
 * Bun's `server.upgrade`) must be given, since only the request the engine made can take over its
 * connection.
 */
export function originalOf(request: Request): Request {
  return (request as Request & { [ORIGINAL]?: Request })[ORIGINAL] ?? request;
}

/** Bun's and Elysia's shape of an address (`server.requestIP`). */
export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: "IPv4" | "IPv6";
}

/** An address in the shape `server.requestIP` returns; null for a unix socket's peer (it has none). */
export function socketAddress(addr: RemoteAddr): SocketAddress | null {
  if (addr.transport === "unix" || addr.hostname === "") return null;
  return { address: addr.hostname, port: addr.port, family: addr.hostname.includes(":") ? "IPv6" : "IPv4" };
}

/**
 * Defines `request.ip` (srvx's and h3 v2's convention) on the Request class the engine builds requests
 * of, unless it has one: the client unicorn decided, or undefined before the policy ran.
 */
export function installRequestIp(proto: object = Request.prototype): void {
  if ("ip" in proto) return;
  Object.defineProperty(proto, "ip", {
    configurable: true,
    get(this: Carrier) {
      const addr = this[CONN_INFO]?.remoteAddr;
      return addr && addr.hostname !== "" ? addr.hostname : undefined;
    },
  });
}

/** A `server` for an app that asks its own (Elysia's `server.requestIP(request)`) but was never listened with. */
export const requestIpServer = {
  requestIP(request: Request): SocketAddress | null {
    const info = connInfoOf(request);
    return info ? socketAddress(info.remoteAddr) : null;
  },
};
