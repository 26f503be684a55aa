/** The Deno backend: each worker serves Deno.serve on its own SO_REUSEPORT socket. */
import process from "node:process";
import type { Runtime } from "../../src/runtime.ts";
import { connectControl, listenControl } from "../_shared/channel.ts";
import { probePort } from "../_shared/probe.ts";
import { commonParts, spawnWorker } from "../_shared/process.ts";
import { watchSources } from "../_shared/watch.ts";
import { serve } from "./serve.ts";

const WORKER_ENTRY = new URL("./worker.ts", import.meta.url).pathname;
const Deno = (globalThis as unknown as { Deno: { version: { deno: string }; umask(mask?: number): number } }).Deno;

/** The Deno runtime, for `mod.ts` and the worker entry. */
export const runtime: Runtime = {
  ...commonParts(),
  name: "deno",
  version: Deno.version.deno,
  capabilities: {
    sharedListeners: false,
    reusePort: true,
    engine: { shared: "unavailable", "reuse-port": "Deno.serve on SO_REUSEPORT sockets" },
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
