/** The Deno backend: each worker serves Deno.serve on its own SO_REUSEPORT socket. */
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { Runtime } from "../../src/runtime.ts";
import { connectControl, listenControl } from "../_shared/channel.ts";
import { describeErrno } from "../_shared/probe.ts";
import { commonParts, moduleBeside, spawnWorker } from "../_shared/process.ts";
import { watchSources } from "../_shared/watch.ts";
import { commandLine, workerFlags } from "./flags.ts";
import { serve } from "./serve.ts";

// A path, or the module's URL when unicorn itself is remote (JSR).
/** "at" this module, coloured or not, ending a message. */
const OWN_FRAME = new RegExp(`\\n\\s+at (\\x1b\\[[0-9;]*m)*${import.meta.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\x1b\\[[0-9;]*m|:|\\d)*$`);
const WORKER_ENTRY = moduleBeside(import.meta.url, "./worker.mjs", "./worker.ts");
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
  // Workers get the arbiter's own flags and permissions (flags.ts).
  spawnWorker(spec) {
    const line = commandLine();
    return spawnWorker(
      spec.role === "arbiter"
        // USR2: a new arbiter, with this one's command line.
        ? [process.execPath, "run", ...line.flags, line.script, ...line.args]
        : [process.execPath, "run", ...workerFlags(), WORKER_ENTRY],
      spec,
    );
  },
  serve,
  // A file URL, not a path: from a remote module (JSR) a path would resolve against the module's URL.
  importModule: async (path, options) => {
    const url = pathToFileURL(path).href;
    try {
      return { exports: await import(options?.fresh ? `${url}?v=${Date.now()}` : url) };
    } catch (error) {
      // Deno ends "Module not found" with where the import was made: this file, not the app.
      if (error instanceof Error) error.message = error.message.replace(OWN_FRAME, "");
      throw error;
    }
  },
};
