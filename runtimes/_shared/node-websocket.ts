/**
 * unicorn's upgradeWebSocket on node:http, for a Fetch app: a handshake arrives on the server's `upgrade`
 * event, goes through the app's whole pipeline as a Request (policy, access log, hooks), and if the app
 * calls upgradeWebSocket the connection is taken over with `ws` (the WebSocket library Node's ecosystem
 * runs on, loaded at the first handshake); if it does not, its Response is written on the socket and the
 * connection closed. Node, Deno's default engine and Bun's node:http alike.
 */
import type http from "node:http";
import type net from "node:net";
import type { WebSocket as WsSocket, WebSocketServer } from "ws";
import { reasonPhrase } from "../../src/http/policy.ts";
import type { HttpSettings } from "../../src/http/types.ts";
import { createSocket, notAHandshake, type SocketLink, type Upgraded, type UpgradeOptions, upgradeResponse } from "../../src/http/websocket.ts";
import type { WebSocketGuard } from "./websocket-guard.ts";

/** A client's handshake key: 16 bytes, base64. */
const KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/;
/** Fields the raw answer sets itself. */
const FRAMING = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "set-cookie"]);

/** The connections of one node:http engine's handshakes, and the `ws` server that takes them over. */
export class NodeUpgrades {
  readonly #settings: HttpSettings;
  readonly #guard: WebSocketGuard;
  #server: WebSocketServer | undefined;
  #loading: Promise<void> | undefined;
  /** The subprotocol of the upgrade in progress, for `ws`'s handleProtocols (the upgrade is synchronous). */
  #protocol: string | false = false;

  constructor(settings: HttpSettings, guard: WebSocketGuard) {
    this.#settings = settings;
    this.#guard = guard;
  }

  /** Loads `ws` before the first handshake reaches the app (upgradeWebSocket must answer at once). */
  ready(): Promise<void> | undefined {
    if (this.#server) return undefined;
    return (this.#loading ??= import("ws").then((module) => {
      const Server = (module.WebSocketServer ?? (module as unknown as { default: { WebSocketServer: typeof WebSocketServer } }).default.WebSocketServer);
      const max = this.#settings.websocketMaxMessage;
      this.#server = new Server({
        noServer: true,
        clientTracking: false,
        perMessageDeflate: false,
        // ws's default is 100 MiB; 0 leaves it.
        ...(max > 0 ? { maxPayload: max } : {}),
        handleProtocols: () => this.#protocol,
      });
    }));
  }

  /** Takes the connection of `req` over as a WebSocket: the 101 goes out now. */
  takeOver(req: http.IncomingMessage, socket: net.Socket, head: Buffer, url: string, options?: UpgradeOptions): Upgraded {
    const server = this.#server;
    const version = req.headers["sec-websocket-version"];
    if (!server || req.method !== "GET" || !KEY.test(String(req.headers["sec-websocket-key"] ?? "")) || (version !== "13" && version !== "8")) {
      throw notAHandshake();
    }
    const control = createSocket(url, options?.protocol);
    this.#protocol = options?.protocol ?? false;
    let taken: WsSocket | undefined;
    try {
      server.handleUpgrade(req, socket, head, (ws) => (taken = ws));
    } finally {
      this.#protocol = false;
    }
    if (!taken) throw notAHandshake();
    const ws = taken;
    this.#guard.accepted(socket);
    ws.on("message", (data: Buffer, binary: boolean) => {
      control.message(binary ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer : data.toString("utf8"));
    });
    ws.on("close", (code: number, reason: Buffer) => control.closed(code, reason.toString("utf8")));
    ws.on("error", (error: Error) => control.error(error));
    const link: SocketLink = {
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    control.opened(link);
    return { socket: control.socket, response: upgradeResponse() };
  }
}

/** The Request of a handshake (or of any bodiless request with Upgrade), as the bridge builds a request's. */
export function upgradeRequestOf(req: http.IncomingMessage, origin: string): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return new Request(`${origin}${req.url}`, { method: req.method, headers });
}

/** Writes `response` on a connection that came with Upgrade but was not taken over, and closes it. */
export async function answerRaw(socket: net.Socket, response: Response, method: string, close: (socket: net.Socket) => void): Promise<void> {
  const status = response.status;
  const bodiless = method === "HEAD" || status === 204 || status === 304;
  const body = bodiless ? new Uint8Array(0) : new Uint8Array(await response.arrayBuffer());
  if (socket.destroyed) return;
  let head = `HTTP/1.1 ${status} ${response.statusText || reasonPhrase(status)}\r\n`;
  response.headers.forEach((value, name) => {
    if (!FRAMING.has(name)) head += `${name}: ${value}\r\n`;
  });
  for (const cookie of response.headers.getSetCookie()) head += `set-cookie: ${cookie}\r\n`;
  head += `${bodiless ? "" : `content-length: ${body.byteLength}\r\n`}connection: close\r\n\r\n`;
  socket.write(head, "latin1");
  if (body.byteLength > 0) socket.write(body);
  close(socket);
}
