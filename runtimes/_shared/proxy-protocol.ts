/**
 * Reads a PROXY protocol header off each new connection of a node:http server
 * before its HTTP parser sees a byte, from peers in --proxy-allow-from.
 */
import type net from "node:net";
import type { HttpSettings } from "../../src/http/policy.ts";
import { IpSet } from "../../src/http/ip.ts";
import { parseProxyHeader } from "../../src/http/proxy-protocol.ts";
import type { RemoteAddr } from "../../src/runtime.ts";

/** A socket that came through a proxy: the client the PROXY header named, and the proxy itself. */
export interface ProxiedSocket {
  proxied?: { source: RemoteAddr; peer: RemoteAddr };
}

/** How long a peer may take to send its PROXY header, in ms. */
const HEADER_DEADLINE_MS = 5000;

/** Puts the PROXY header reader in front of the server's own connection listeners. */
export function acceptProxyHeader(
  server: net.Server,
  settings: HttpSettings,
  onBad: (socket: net.Socket, reason: string) => void,
  onProxied: (socket: net.Socket & ProxiedSocket) => void,
): void {
  const mode = settings.proxyProtocol as "v1" | "v2" | "auto";
  const allowed = new IpSet(settings.proxyAllowFrom);
  const listeners = server.listeners("connection") as Array<(socket: net.Socket) => void>;
  server.removeAllListeners("connection");
  const pass = (socket: net.Socket) => {
    for (const listener of listeners) listener.call(server, socket);
  };
  server.on("connection", (socket: net.Socket & ProxiedSocket) => {
    // Other peers speak plain HTTP: a PROXY line from them is a bad request line.
    if (socket.remoteAddress !== undefined && !allowed.has(socket.remoteAddress)) return pass(socket);
    let buffered = new Uint8Array(0);
    const timer = setTimeout(() => {
      socket.off("data", onData);
      onBad(socket, "no PROXY protocol header in time");
    }, HEADER_DEADLINE_MS);
    const onData = (chunk: Uint8Array) => {
      const joined = new Uint8Array(buffered.length + chunk.length);
      joined.set(buffered);
      joined.set(chunk, buffered.length);
      buffered = joined;
      const parsed = parseProxyHeader(buffered, mode);
      if (parsed.kind === "more") return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      if (parsed.kind === "error") return onBad(socket, parsed.reason);
      if (parsed.kind === "ok" && parsed.source) {
        socket.proxied = {
          source: { transport: "tcp", hostname: parsed.source.hostname, port: parsed.source.port },
          peer: socket.remoteAddress === undefined
            ? { transport: "unix", hostname: "", port: 0 }
            : { transport: "tcp", hostname: socket.remoteAddress, port: socket.remotePort ?? 0 },
        };
        onProxied(socket);
      }
      const rest = parsed.kind === "ok" ? buffered.subarray(parsed.length) : buffered;
      if (rest.length > 0) socket.unshift(rest);
      pass(socket);
      socket.resume();
    };
    socket.on("data", onData);
    socket.once("close", () => clearTimeout(timer));
  });
}
