/** Raw-socket HTTP for tests that must control every byte on the wire. */
import net from "node:net";

export interface RawResult {
  /** Everything the server sent, as latin1 text. */
  readonly text: string;
  /** The status code of each response seen. */
  readonly statuses: number[];
  /** The server closed the connection before the deadline. */
  readonly closed: boolean;
}

/**
 * Sends `raw` (each char one byte) to `port` and reads until the server closes the connection
 * or `deadlineMs` passes. `halfClose` sends FIN after the bytes, for servers that leave a
 * connection open after `Connection: close`.
 */
export function sendRaw(
  port: number,
  raw: string | readonly string[],
  deadlineMs = 5000,
  host = "127.0.0.1",
  halfClose = false,
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ text, statuses, closed });
    };
    const timer = setTimeout(finish, deadlineMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET" || error.code === "EPIPE") {
        closed = true;
        finish();
      } else {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on("end", () => {
      closed = true;
      finish();
    });
    socket.on("connect", () => {
      for (const part of typeof raw === "string" ? [raw] : raw) socket.write(Buffer.from(part, "latin1"));
      if (halfClose) socket.end();
    });
  });
}
