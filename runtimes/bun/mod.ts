/** The Bun backend: each worker binds its own SO_REUSEPORT socket and serves it with Bun.serve. */
import type { Backend, Runtime } from "../../src/runtime.ts";
import { host } from "../_shared/host.ts";
import { probePort } from "../_shared/probe.ts";
import { moduleBeside, spawnWithExecArgv } from "../_shared/spawn.ts";
import { serve } from "./serve.ts";

const WORKER_ENTRY = moduleBeside(import.meta.url, "./worker.mjs", "./worker.ts");
const Bun = (globalThis as unknown as { Bun: { version: string } }).Bun;

const backend: Backend = {
  name: "bun",
  version: Bun.version,
  capabilities: {
    sharedListeners: false,
    reusePort: true,
    engines: { native: "Bun.serve", node: "node:http" },
    acceptSurvivesEmfile: true,
    tls: { ciphers: true, clientCertificates: true },
    defaultEngine: "native",
    engineNotes: {
      native: "Bun.serve keeps its own header deadline (about 10 s): --header-timeout and --worker-connections " +
        "do not apply; --body-timeout bounds a whole request other than GET and HEAD, closing it without a 408",
    },
  },
  bindShared: () => Promise.reject(new Error("a Bun arbiter cannot hand sockets to workers")),
  probePort,
  spawnWorker: spawnWithExecArgv(WORKER_ENTRY),
  serve,
  // Bun takes a path with a query as a fresh module, but a file: URL with a query from its cache.
  importModule: async (path, options) => ({ exports: await import(options?.fresh ? `${path}?v=${Date.now()}` : path) }),
};

/** The Bun runtime, for `mod.ts` and the worker entry. */
export const runtime: Runtime = { ...host, ...backend };
