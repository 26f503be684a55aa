/** Small HTTP clients for the suite: fresh connections, kept-alive raw sockets. */
import http from "node:http";
import net from "node:net";

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no keep-alive). */
export function request(
  url: string,
  options: { method?: string; body?: AsyncIterable<Uint8Array> | string; socketPath?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = http.request({
      host: target.hostname.replace(/^\[|\]$/g, ""),
      port: target.port,
      path: target.pathname + target.search,
      method: options.method ?? "GET",
      socketPath: options.socketPath,
      agent: false,
      headers: { connection: "close", ...options.headers },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") })
      );
    });
    const body = options.body;
    if (body === undefined) return void req.end();
    if (typeof body === "string") return void req.end(body);
    void (async () => {
      for await (const chunk of body) req.write(chunk);
      req.end();
    })().catch(reject);
  });
}

/** A raw kept-alive connection that reads whole responses with Content-Length. */
export class RawConnection {
  readonly socket: net.Socket;
  #buffer = "";
  #waiter: (() => void) | undefined;
  closed: Promise<void>;

  constructor(port: number, host = "127.0.0.1") {
    this.socket = net.createConnection({ port, host });
    this.socket.setEncoding("latin1");
    this.socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#waiter?.();
    });
    this.socket.on("error", () => {});
    this.closed = new Promise((resolve) => this.socket.on("close", () => resolve()));
    this.socket.on("close", () => this.#waiter?.());
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
  }

  send(path: string, host = "localhost"): void {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  }

  /** Reads one response with a Content-Length body. */
  async read(): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    for (;;) {
      const end = this.#buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const [statusLine, ...lines] = this.#buffer.slice(0, end).split("\r\n");
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers["content-length"] ?? 0);
        if (this.#buffer.length >= end + 4 + length) {
          const body = this.#buffer.slice(end + 4, end + 4 + length);
          this.#buffer = this.#buffer.slice(end + 4 + length);
          return { status: Number(statusLine!.split(" ")[1]), headers, body };
        }
      }
      if (this.socket.destroyed) throw new Error(`connection closed before a whole response: ${this.#buffer}`);
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
