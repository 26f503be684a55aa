/**
 * unicorn's WebSocket limits on connections node:http handed to the app's `upgrade` listeners (`ws`,
 * `@hono/node-ws`): the app's library owns the protocol, so the limits are kept from outside it, on the
 * socket, the way Bun.serve and Deno.serve keep theirs.
 *
 * - Idle: a socket that has read nothing for half of --websocket-idle-timeout gets a ping (every client
 *   answers one by itself); one still silent at the timeout gets a close frame, 1001, and is closed.
 * - Size: the frame headers the client sends are read as they pass (payloads are skipped, not copied);
 *   a message whose frames add up to more than --websocket-max-message is not passed on: the client gets
 *   1009 as soon as the header announcing it arrives, before its payload is read.
 * - Drain: every socket gets 1001 (going away) and is closed.
 *
 * Frames written here go out between the library's own (each of its frames is one synchronous write).
 */
import type net from "node:net";
import type { HttpSettings } from "../../src/http/types.ts";

/** How long a connection unicorn closed may wait for the client to close its end, in ms. */
const LINGER_MS = 1000;
/** A server's ping with no payload. */
const PING = Buffer.from([0x89, 0x00]);

/** A close frame from a server (unmasked) with a code and a short reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason);
  return Buffer.concat([Buffer.from([0x88, 2 + text.length, code >> 8, code & 0xff]), text]);
}

const GOING_AWAY = closeFrame(1001, "Server shutting down");
const NO_PONG = closeFrame(1001, "No response to ping");
const TOO_BIG = closeFrame(1009, "Message too big");

/** What the idle sweep knows of a socket. */
interface Seen {
  bytes: number;
  since: number;
  pinged: boolean;
  /** Whether the app answered the handshake with a 101: an open WebSocket, counted. */
  open: boolean;
}

/**
 * Reads a client's frame headers from the bytes as they come: how large the message in progress has
 * grown. Payloads are counted past, never kept.
 */
export class FrameCounter {
  readonly #max: number;
  /** The header bytes of the frame being read (at most 14). */
  #header: number[] = [];
  /** Payload bytes of the current frame still to come. */
  #skip = 0;
  /** The size of the data message in progress, its frames so far. */
  #message = 0;
  constructor(max: number) {
    this.#max = max;
  }

  /**
   * Reads `chunk`; returns how many of its bytes may pass: all of them, or those before the header of a
   * frame that takes its message past the limit (then -1 - that offset, so that 0 bytes is told apart).
   */
  take(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const start = i - this.#header.length;
      while (i < chunk.length && this.#header.length < this.#headerLength()) this.#header.push(chunk[i++]!);
      if (this.#header.length < this.#headerLength()) break;
      const [b0, b1] = this.#header as [number, number];
      const opcode = b0 & 0x0f;
      let length = b1 & 0x7f;
      if (length === 126) length = (this.#header[2]! << 8) | this.#header[3]!;
      else if (length === 127) {
        length = 0;
        for (let k = 2; k < 10; k++) length = length * 256 + this.#header[k]!;
      }
      this.#header = [];
      this.#skip = length;
      // Data frames (text, binary, continuation) add to the message; control frames stand alone.
      if (opcode < 0x8) {
        this.#message += length;
        if (this.#message > this.#max) return -1 - Math.max(0, start);
        if (b0 & 0x80) this.#message = 0;
      }
    }
    return chunk.length;
  }

  /** The length of the header being read, as far as its first bytes tell. */
  #headerLength(): number {
    if (this.#header.length < 2) return 2;
    const b1 = this.#header[1]!;
    const length = b1 & 0x7f;
    return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
  }
}

/** Ends a socket with `frame`, and releases it even if the client never closes its end. */
function closeWith(socket: net.Socket, frame: Buffer): void {
  if (socket.destroyed) return;
  socket.resume();
  socket.end(frame);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

export class WebSocketGuard {
  readonly #idle: number;
  readonly #max: number;
  readonly #sockets = new Map<net.Socket, Seen>();
  #sweep: ReturnType<typeof setInterval> | undefined;
  /** Called with +1 as the app accepts a handshake, -1 as that socket closes: the worker's count of open WebSockets. */
  readonly #count: (delta: number) => void;

  constructor(settings: HttpSettings, count: (delta: number) => void = () => {}) {
    this.#idle = settings.websocketIdleTimeout * 1000;
    this.#max = settings.websocketMaxMessage;
    this.#count = count;
  }

  get size(): number {
    return this.#sockets.size;
  }

  /**
   * Keeps the limits on a socket the app's upgrade listener has been handed; `limitMessages` where the
   * library that takes it over is not unicorn's own (whose `ws` keeps the size limit itself).
   */
  watch(socket: net.Socket, { limitMessages }: { limitMessages: boolean }): void {
    const seen: Seen = { bytes: socket.bytesRead, since: Date.now(), pinged: false, open: false };
    this.#sockets.set(socket, seen);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      if (seen.open) this.#count(-1);
      if (this.#sockets.size === 0 && this.#sweep) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    });
    if (this.#max > 0 && limitMessages) this.#limitMessages(socket);
    if (this.#idle > 0 && !this.#sweep) {
      this.#sweep = setInterval(() => this.#sweepIdle(), Math.max(100, Math.min(1000, this.#idle / 8)));
      this.#sweep.unref();
    }
  }

  /** The app answered the socket's handshake with a 101: a WebSocket is open. */
  accepted(socket: net.Socket): void {
    const seen = this.#sockets.get(socket);
    if (!seen || seen.open) return;
    seen.open = true;
    // Idle from the 101 on.
    seen.since = Date.now();
    seen.bytes = socket.bytesRead;
    this.#count(1);
  }

  /**
   * Says going away (1001) on every open WebSocket and closes it. A handshake the app has not answered
   * yet is a request in flight: its answer closes it.
   */
  closeAll(): void {
    for (const [socket, seen] of this.#sockets) if (seen.open) closeWith(socket, GOING_AWAY);
  }

  /** Every byte the socket reads passes its frame counter before the app's library sees it. */
  #limitMessages(socket: net.Socket): void {
    const counter = new FrameCounter(this.#max);
    const emit = socket.emit;
    let over = false;
    socket.emit = function (this: net.Socket, event: string | symbol, ...args: unknown[]): boolean {
      if (event !== "data" || !(args[0] instanceof Uint8Array)) return emit.call(this, event, ...args);
      if (over) return false;
      const chunk = args[0];
      const passing = counter.take(chunk);
      if (passing >= 0) return emit.call(this, event, chunk);
      over = true;
      const before = -1 - passing;
      if (before > 0) emit.call(this, event, chunk.subarray(0, before));
      closeWith(socket, TOO_BIG);
      return false;
    } as typeof socket.emit;
  }

  #sweepIdle(): void {
    const now = Date.now();
    for (const [socket, seen] of this.#sockets) {
      if (!seen.open || socket.destroyed || !socket.writable) continue;
      if (socket.bytesRead !== seen.bytes) {
        seen.bytes = socket.bytesRead;
        seen.since = now;
        seen.pinged = false;
      } else if (now - seen.since >= this.#idle) {
        closeWith(socket, NO_PONG);
      } else if (!seen.pinged && now - seen.since >= this.#idle / 2) {
        seen.pinged = true;
        socket.write(PING);
      }
    }
  }
}
