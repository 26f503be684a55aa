import net from "node:net";
import type { BindAddress } from "../../src/config/bind.ts";

/**
 * Binds `address` for a moment to check it is free and learn the port picked
 * for port 0, then lets it go for the workers' SO_REUSEPORT sockets.
 */
export function probePort(address: BindAddress & { kind: "tcp" }): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => reject(new Error(describeErrno(error))));
    try {
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        const bound = server.address() as net.AddressInfo;
        server.close(() => resolve(bound.port));
      });
    } catch (error) {
      // Deno throws a missing --allow-net here rather than emitting it.
      reject(error);
    }
  });
}

const MESSAGES: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available on this machine",
  EACCES: "permission denied (ports below 1024 need privileges)",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name could not be resolved",
  ENOENT: "no such file or directory",
  EINVAL: "invalid argument",
  EAFNOSUPPORT: "address family not supported",
  EBADF: "not an open file descriptor",
  ENOTSOCK: "not a socket",
};

/** `address already in use` from an errno error, whatever the runtime put in its message. */
export function describeErrno(error: { code?: string; message?: string }): string {
  if (error.code && MESSAGES[error.code]) return MESSAGES[error.code]!;
  return error.code ?? error.message ?? String(error);
}
