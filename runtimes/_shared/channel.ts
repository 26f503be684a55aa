/**
 * The control channel over a unix socket, with node:net: JSON messages, one per
 * line. node:net behaves the same here on Node, Bun and Deno, so the three
 * backends share it.
 */
import net from "node:net";
import type { Message } from "../../src/messages.ts";
import type { Channel, ControlServer } from "../../src/runtime.ts";

/** The longest line a channel takes before it drops the connection (a peer that never ends its line). */
const MAX_LINE = 1024 * 1024;

function channelOf<T = Message>(socket: net.Socket, maxLine = MAX_LINE): Channel<T> {
  const listeners: Array<(message: T) => void> = [];
  let buffered = "";
  let closed = false;
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    // Only the new chunk is searched for the end of a line: a long line costs once, not once per chunk.
    let end = chunk.indexOf("\n");
    if (end >= 0) end += buffered.length;
    buffered += chunk;
    if (end < 0 && buffered.length > maxLine) return void socket.destroy();
    while (end >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      end = buffered.indexOf("\n");
      if (line === "") continue;
      let message: T;
      try {
        message = JSON.parse(line) as T;
      } catch {
        continue;
      }
      for (const listener of listeners) listener(message);
    }
    if (buffered.length > maxLine) socket.destroy();
  });
  socket.on("error", () => socket.destroy());
  return {
    send(message) {
      if (closed || socket.destroyed) return;
      socket.write(`${JSON.stringify(message)}\n`);
    },
    end() {
      return new Promise((resolve) => {
        if (closed || socket.destroyed) return resolve();
        closed = true;
        // The other side reads everything before it sees the end; a peer that is gone does not hold the exit.
        const timer = setTimeout(finish, 1000);
        function finish() {
          clearTimeout(timer);
          socket.destroy();
          resolve();
        }
        socket.end(finish);
      });
    },
    onMessage(listener) {
      listeners.push(listener);
    },
    onClose(listener) {
      socket.on("close", () => {
        if (!closed) listener();
      });
    },
    close() {
      closed = true;
      socket.destroy();
    },
  };
}

/** Listens on `path` for workers (or `unicorn ctl`). */
export function listenControl<T = Message>(
  path: string,
  onChannel: (channel: Channel<T>) => void,
  options: { maxLine?: number } = {},
): Promise<ControlServer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => onChannel(channelOf<T>(socket, options.maxLine)));
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      // The arbiter must not wait on this socket to exit.
      server.unref();
      resolve({ close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

/** Connects a worker to its arbiter. */
export function connectControl<T = Message>(path: string): Promise<Channel<T>> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path, () => {
      socket.off("error", reject);
      resolve(channelOf<T>(socket));
    });
    socket.once("error", reject);
  });
}
