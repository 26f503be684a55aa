/**
 * One WebSocket API for a Fetch app on every engine: `upgradeWebSocket(request)` returns
 * `{ socket, response }`, Deno's shape (and the WHATWG WebSocket's events on `socket`). Each engine
 * installs how it takes a connection over: Deno.serve through `Deno.upgradeWebSocket`, Bun.serve through
 * `server.upgrade` and its `websocket` handlers, node:http through its `upgrade` event and `ws`. unicorn's
 * limits (--websocket-idle-timeout, --websocket-max-message) and counts apply on each.
 *
 * Web globals only (EventTarget, MessageEvent): the engines adapt their own sockets to {@linkcode SocketLink}.
 */
import { switchingProtocols } from "./app-handler.ts";

/** What an app may ask of an upgrade. */
export interface UpgradeOptions {
  /** The subprotocol to answer with (one the client offered in Sec-WebSocket-Protocol). */
  readonly protocol?: string;
}

/** The WebSocket an app gets: the WHATWG WebSocket's interface, server side. */
export interface ServerWebSocket extends EventTarget {
  readonly readyState: number;
  readonly url: string;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: "arraybuffer" | "blob";
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

/** The result of an upgrade: the socket, and the response the app returns for its handshake. */
export interface Upgraded {
  readonly socket: ServerWebSocket;
  readonly response: Response;
}

/** How an engine takes a request's connection over. */
export type Upgrader = (request: Request, options?: UpgradeOptions) => Upgraded;

/** The connection under a socket, as an engine gives it (Bun's ServerWebSocket, ws's WebSocket). */
export interface SocketLink {
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code: number, reason: string): void;
  readonly bufferedAmount: number;
}

/** What an engine tells a socket of its connection. */
export interface SocketControl {
  readonly socket: ServerWebSocket;
  opened(link: SocketLink): void;
  message(data: string | ArrayBuffer): void;
  closed(code: number, reason: string): void;
  error(error: unknown): void;
}

const KEY = Symbol.for("unicorn.upgradeWebSocket");

/** Installs the engine's upgrade: the worker, as it starts serving. */
export function setUpgrader(upgrader: Upgrader): void {
  (globalThis as { [KEY]?: Upgrader })[KEY] = upgrader;
}

/**
 * Takes over the connection of a WebSocket handshake and returns `{ socket, response }`: return
 * `response` from the handler, and talk on `socket` (its `open` event comes once the handshake is
 * answered). Works on every engine unicorn serves a Fetch app with (Bun.serve, Deno.serve, node:http);
 * throws a TypeError for a request that is not a WebSocket handshake, and outside a unicorn worker.
 *
 * @example
 * ```ts
 * import { upgradeWebSocket } from "unicorn-http";
 * export default {
 *   fetch(request: Request) {
 *     if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("hello");
 *     const { socket, response } = upgradeWebSocket(request);
 *     socket.onmessage = (event) => socket.send(`echo ${event.data}`);
 *     return response;
 *   },
 * };
 * ```
 */
export function upgradeWebSocket(request: Request, options?: UpgradeOptions): Upgraded {
  const upgrader = (globalThis as { [KEY]?: Upgrader })[KEY];
  if (!upgrader) throw new TypeError("upgradeWebSocket() takes over a connection of a unicorn worker: serve the app with unicorn");
  return upgrader(request, options);
}

/** Whether a request asks for a WebSocket (Upgrade: websocket). */
export function isWebSocketHandshake(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** The error an upgrade of anything but a WebSocket handshake throws. */
export function notAHandshake(): TypeError {
  return new TypeError("upgradeWebSocket(): the request is not a WebSocket handshake (it needs Upgrade: websocket and Sec-WebSocket-Key)");
}

/** The marker response of an upgrade: the access log and the counts see 101; the engine sends nothing for it. */
export function upgradeResponse(): Response {
  return switchingProtocols();
}

/** CloseEvent where the runtime has none (Node before 23). */
const CloseEventClass: typeof CloseEvent = globalThis.CloseEvent ?? class extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
} as unknown as typeof CloseEvent;

type Handler<E extends Event> = ((event: E) => void) | null;

/**
 * A WebSocket on a connection an engine took over: the WHATWG interface, its state kept here, its bytes
 * carried by the engine's {@linkcode SocketLink}. Messages that arrive before `open` is dispatched wait
 * for it, so a handler set after `upgradeWebSocket` returns sees every one.
 */
class Socket extends EventTarget implements ServerWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly url: string;
  readonly protocol: string;
  readonly extensions = "";
  binaryType: "arraybuffer" | "blob" = "arraybuffer";
  #state = 0;
  #link: SocketLink | undefined;
  /** What came before `open` was dispatched. */
  #early: Array<() => void> | undefined = [];
  readonly #handlers = new Map<string, Handler<Event>>();

  constructor(url: string, protocol: string) {
    super();
    this.url = url.replace(/^http/, "ws");
    this.protocol = protocol;
  }

  get readyState(): number {
    return this.#state;
  }
  get bufferedAmount(): number {
    return this.#link?.bufferedAmount ?? 0;
  }

  get onopen(): Handler<Event> {
    return this.#handlers.get("open") ?? null;
  }
  set onopen(handler: Handler<Event>) {
    this.#handle("open", handler);
  }
  get onmessage(): Handler<MessageEvent> {
    return (this.#handlers.get("message") ?? null) as Handler<MessageEvent>;
  }
  set onmessage(handler: Handler<MessageEvent>) {
    this.#handle("message", handler as Handler<Event>);
  }
  get onclose(): Handler<CloseEvent> {
    return (this.#handlers.get("close") ?? null) as Handler<CloseEvent>;
  }
  set onclose(handler: Handler<CloseEvent>) {
    this.#handle("close", handler as Handler<Event>);
  }
  get onerror(): Handler<Event> {
    return this.#handlers.get("error") ?? null;
  }
  set onerror(handler: Handler<Event>) {
    this.#handle("error", handler);
  }

  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.#state === 0) throw new DOMException("The WebSocket is not open yet", "InvalidStateError");
    if (this.#state !== 1) return;
    if (typeof data === "string") return this.#link!.send(data);
    if (data instanceof Blob) {
      void data.arrayBuffer().then((buffer) => this.#state === 1 && this.#link!.send(buffer));
      return;
    }
    if (ArrayBuffer.isView(data)) return this.#link!.send(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.#link!.send(new Uint8Array(data as ArrayBuffer));
  }

  close(code?: number, reason = ""): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`The close code must be 1000 or between 3000 and 4999, not ${code}`, "InvalidAccessError");
    }
    if (new TextEncoder().encode(reason).byteLength > 123) throw new DOMException("The close reason is longer than 123 bytes", "SyntaxError");
    if (this.#state >= 2) return;
    const link = this.#link;
    this.#state = 2;
    if (link) link.close(code ?? 1000, reason);
    else this.#early?.push(() => this.#link?.close(code ?? 1000, reason));
  }

  /** The engine's side of the socket. */
  static create(url: string, protocol: string): SocketControl {
    const socket = new Socket(url, protocol);
    return {
      socket,
      opened: (link) => socket.#opened(link),
      message: (data) => socket.#later(() => socket.#message(data)),
      closed: (code, reason) => socket.#later(() => socket.#closed(code, reason)),
      error: (error) => socket.#later(() => socket.dispatchEvent(Object.assign(new Event("error"), { error }))),
    };
  }

  #handle(type: string, handler: Handler<Event>): void {
    if (!this.#handlers.has(type)) {
      this.addEventListener(type, (event) => {
        const current = this.#handlers.get(type);
        if (typeof current === "function") current.call(this, event);
      });
    }
    this.#handlers.set(type, typeof handler === "function" ? handler : null);
  }

  /** Runs `event` now if `open` has been dispatched, else right after it. */
  #later(event: () => void): void {
    if (this.#early) this.#early.push(event);
    else event();
  }

  #opened(link: SocketLink): void {
    this.#link = link;
    // A close asked before the connection was there goes out now; the socket still opens first.
    if (this.#state === 0) this.#state = 1;
    // In a task of its own: the app sets its handlers after upgradeWebSocket returns.
    setTimeout(() => {
      this.dispatchEvent(new Event("open"));
      const early = this.#early!;
      this.#early = undefined;
      for (const event of early) event();
    }, 0);
  }

  #message(data: string | ArrayBuffer): void {
    if (this.#state === 3) return;
    const payload = typeof data === "string" || this.binaryType === "arraybuffer" ? data : new Blob([data]);
    this.dispatchEvent(new MessageEvent("message", { data: payload }));
  }

  #closed(code: number, reason: string): void {
    if (this.#state === 3) return;
    this.#state = 3;
    this.dispatchEvent(new CloseEventClass("close", { code, reason, wasClean: code !== 1006 }));
  }
}

/** A socket for an engine to carry: `url` is the handshake's, `protocol` the subprotocol answered. */
export function createSocket(url: string, protocol = ""): SocketControl {
  return Socket.create(url, protocol);
}
