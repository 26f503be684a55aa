/** The Deno backend: each worker serves Deno.serve on its own SO_REUSEPORT socket. */
import process from "node:process";
import type { Runtime } from "../../src/runtime.ts";
import { connectControl, listenControl } from "../_shared/channel.ts";
import { describeErrno } from "../_shared/probe.ts";
import { commonParts, spawnWorker } from "../_shared/process.ts";
import { watchSources } from "../_shared/watch.ts";
import { serve } from "./serve.ts";

const WORKER_ENTRY = new URL("./worker.ts", import.meta.url).pathname;
interface DenoListener {
  readonly addr: { port: number };
  close(): void;
}
const Deno = (globalThis as unknown as {
  Deno: {
    version: { deno: string };
    umask(mask?: number): number;
    listen(options: { hostname: string; port: number }): DenoListener;
  };
}).Deno;

/** Deno.listen rather than node:net: it throws a missing --allow-net where the caller can catch it. */
function probePort(address: { host: string; port: number }): Promise<number> {
  try {
    const listener = Deno.listen({ hostname: address.host, port: address.port });
    const port = listener.addr.port;
    listener.close();
    return Promise.resolve(port);
  } catch (error) {
    const code = (error as { code?: string }).code;
    return Promise.reject(code ? Object.assign(new Error(describeErrno({ code })), { code }) : error);
  }
}

/** The Deno runtime, for `mod.ts` and the worker entry. */
export const runtime: Runtime = {
  ...commonParts(),
  name: "deno",
  version: Deno.version.deno,
  capabilities: {
    sharedListeners: false,
    reusePort: true,
    engines: { node: "node:http", native: "Deno.serve" },
    acceptSurvivesEmfile: false,
    tls: { ciphers: false, clientCertificates: false },
    defaultEngine: "node",
    engineNotes: {
      native: "Deno.serve enforces no header, body or keep-alive timeout and --worker-connections does not apply: " +
        "put a proxy that does in front, or use --engine node",
    },
  },
  bindShared: () => Promise.reject(new Error("a Deno arbiter cannot hand sockets to workers")),
  probePort,
  listenControl,
  connectControl,
  watchSources,
  // Deno's node:process.umask() ignores its argument.
  setUmask: (mask) => void Deno.umask(mask),
  // reusePort needs --unstable-net; the worker gets the arbiter's -A.
  spawnWorker: (spec) =>
    spawnWorker(
      spec.role === "arbiter"
        // USR2: a new arbiter, with this one's command line.
        ? [process.execPath, "run", "-A", process.argv[1]!, ...process.argv.slice(2)]
        : [process.execPath, "run", "-A", "--unstable-net", WORKER_ENTRY],
      spec,
    ),
  serve,
  importModule: (path, fresh) => import(fresh ? `${path}?v=${Date.now()}` : path),
};
