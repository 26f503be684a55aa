/**
 * Binding without listening, so the arbiter owns the socket but never accepts
 * on it: a listening net.Server would make libuv accept connections in the
 * arbiter. Workers call listen() on the inherited fd; the socket stays in the
 * listening state for as long as any process holds it.
 */
import dns from "node:dns/promises";
import fs from "node:fs";
import net from "node:net";
import util from "node:util";
import type { BindAddress } from "../../src/config/bind.ts";
import type { BoundListener } from "../../src/runtime.ts";
import { describeErrno } from "../_shared/probe.ts";

interface RawHandle {
  readonly fd: number;
  bind(host: string, port: number): number;
  bind6(host: string, port: number, flags: number): number;
  getsockname(out: { port?: number }): number;
  close(): void;
}
interface PipeHandle {
  readonly fd: number;
  bind(path: string): number;
  close(): void;
}

// process.binding is a documentation-only deprecation (DEP0111) with no public
// replacement for binding a socket without accepting on it.
const binding = (process as unknown as { binding(name: string): any }).binding;
const { TCP, constants: tcpConstants } = binding("tcp_wrap");
const { Pipe, constants: pipeConstants } = binding("pipe_wrap");

function check(status: number): void {
  if (status < 0) {
    const code = util.getSystemErrorName(status);
    throw Object.assign(new Error(describeErrno({ code })), { code });
  }
}

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection(path, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

async function bindUnix(address: BindAddress & { kind: "unix" }): Promise<BoundListener> {
  const stat = fs.statSync(address.path, { throwIfNoEntry: false });
  if (stat) {
    if (!stat.isSocket()) throw new Error("the path exists and is not a socket");
    if (await isLive(address.path)) throw new Error(describeErrno({ code: "EADDRINUSE" }));
    fs.unlinkSync(address.path); // stale, left by a process that died
  }
  const handle = new Pipe(pipeConstants.SERVER) as PipeHandle;
  check(handle.bind(address.path));
  let open = true;
  return {
    address,
    fd: handle.fd,
    close(keepPath) {
      if (!open) return;
      open = false;
      handle.close();
      if (!keepPath) fs.rmSync(address.path, { force: true });
    },
  };
}

async function bindTcp(address: BindAddress & { kind: "tcp" }): Promise<BoundListener> {
  let host = address.host;
  if (net.isIP(host) === 0) host = (await dns.lookup(host)).address;
  const handle = new TCP(tcpConstants.SERVER) as RawHandle;
  try {
    check(net.isIPv6(host) ? handle.bind6(host, address.port, 0) : handle.bind(host, address.port));
  } catch (error) {
    handle.close();
    throw error;
  }
  const name: { port?: number } = {};
  handle.getsockname(name);
  if (!name.port) {
    // libuv delays EADDRINUSE from bind() to listen(); an unbound socket shows port 0.
    handle.close();
    throw new Error(describeErrno({ code: "EADDRINUSE" }));
  }
  let open = true;
  return {
    address: { ...address, port: name.port ?? address.port },
    fd: handle.fd,
    close() {
      if (open) handle.close();
      open = false;
    },
  };
}

/** Binds one address for the arbiter to hold. */
export function bindShared(address: BindAddress): Promise<BoundListener> {
  switch (address.kind) {
    case "tcp":
      return bindTcp(address);
    case "unix":
      return bindUnix(address);
    case "fd": {
      let stat: fs.Stats;
      try {
        stat = fs.fstatSync(address.fd);
      } catch {
        return Promise.reject(new Error(describeErrno({ code: "EBADF" })));
      }
      if (!stat.isSocket()) return Promise.reject(new Error(describeErrno({ code: "ENOTSOCK" })));
      return Promise.resolve({ address, fd: address.fd, close() {} });
    }
  }
}
