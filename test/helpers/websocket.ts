/**
 * A minimal WebSocket client over a raw socket (RFC 6455), for tests on every Node version (Node 20 has
 * no global WebSocket): the handshake with its accept key checked, masked text frames out, text and
 * close frames in.
 */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export interface Frame {
  readonly opcode: number;
  readonly text: string;
  /** The close code of a close frame. */
  readonly code?: number;
}

export class WebSocketClient {
  readonly #socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #frames: Frame[] = [];
  #waiting: (() => void) | undefined;
  #closed = false;
  /** Pings the server sent so far. */
  pings = 0;
  /** Whether pings are answered (every real client does); a dead client is played by turning it off. */
  answerPings = true;
  /** The handshake's answer: status line and header block. */
  readonly head: string;

  private constructor(socket: net.Socket, head: string, rest: Buffer) {
    this.#socket = socket;
    this.head = head;
    socket.on("data", (chunk: Buffer) => this.#take(chunk));
    socket.on("close", () => {
      this.#closed = true;
      this.#waiting?.();
    });
    if (rest.length > 0) this.#take(rest);
  }

  /** Opens a WebSocket to ws://127.0.0.1:port/path; rejects with the answer's head if it is not a 101. */
  static open(port: number, path: string, headers: Record<string, string> = {}): Promise<WebSocketClient> {
    const key = randomBytes(16).toString("base64");
    const accept = createHash("sha1").update(key + GUID).digest("base64");
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      let received = Buffer.alloc(0);
      const fail = (error: Error) => (socket.destroy(), reject(error));
      socket.on("error", fail);
      socket.on("connect", () => {
        const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
      });
      const onData = (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        socket.off("error", fail);
        const head = received.subarray(0, end).toString("latin1");
        if (!/^HTTP\/1\.1 101 /.test(head)) return fail(Object.assign(new Error(`no 101: ${head.split("\r\n")[0]}`), { head }));
        if (!new RegExp(`^sec-websocket-accept: *${accept.replace(/[+/=]/g, "\\$&")}\\s*$`, "im").test(head)) {
          return fail(new Error(`wrong or missing Sec-WebSocket-Accept in:\n${head}`));
        }
        resolve(new WebSocketClient(socket, head, received.subarray(end + 4)));
      };
      socket.on("data", onData);
      socket.on("close", () => reject(new Error(`closed before the handshake's answer: ${received.toString("latin1")}`)));
    });
  }

  /** Sends a text message (masked, as a client must). */
  send(text: string): void {
    this.#frame(0x1, Buffer.from(text));
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Waits, with a deadline, until the server has sent `count` pings in all. */
  async pinged(count: number, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.pings < count) {
      if (this.#closed) throw new Error(`the connection closed after ${this.pings} pings`);
      if (Date.now() > deadline) throw new Error(`${this.pings} pings within ${ms} ms, not ${count}`);
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  /** Waits, with a deadline, until the connection closes; resolves with the close frame if one came first. */
  async ended(ms = 10_000): Promise<Frame | undefined> {
    const deadline = Date.now() + ms;
    while (!this.#closed) {
      if (Date.now() > deadline) throw new Error(`still open after ${ms} ms`);
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.#frames.find((frame) => frame.opcode === 0x8);
  }

  /** Sends a binary message. */
  sendBinary(data: Buffer): void {
    this.#frame(0x2, data);
  }

  /** Sends a close frame with `code`. */
  close(code = 1000): void {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.#frame(0x8, payload);
  }

  /** The next frame the server sent (text or close), within `ms`. */
  async next(ms = 10_000): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.#frames.length === 0) {
      if (this.#closed) throw new Error("the connection closed with no frame");
      if (Date.now() > deadline) throw new Error(`no frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.#frames.shift()!;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #frame(opcode: number, payload: Buffer): void {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    const mask = randomBytes(4);
    const length = payload.length;
    const head = length < 126 ? Buffer.from([0x80 | opcode, 0x80 | length])
      : length < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
      : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), Buffer.from(new BigUint64Array([BigInt(length)]).buffer).reverse()]);
    const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
    this.#socket.write(Buffer.concat([head, mask, masked]));
  }

  #take(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (this.#buffer.length < 2) break;
      const opcode = this.#buffer[0]! & 0x0f;
      let length = this.#buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.#buffer.length < 4) break;
        length = this.#buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.#buffer.length < 10) break;
        length = Number(this.#buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.#buffer.length < offset + length) break;
      const payload = this.#buffer.subarray(offset, offset + length);
      this.#buffer = this.#buffer.subarray(offset + length);
      if (opcode === 0x1) this.#frames.push({ opcode, text: payload.toString("utf8") });
      else if (opcode === 0x9) {
        this.pings++;
        if (this.answerPings) this.#frame(0xa, Buffer.from(payload));
      } else if (opcode === 0x8) this.#frames.push({ opcode, text: payload.subarray(2).toString("utf8"), code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005 });
    }
    this.#waiting?.();
  }
}
