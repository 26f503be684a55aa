/**
 * The Deno backend: each worker binds its own SO_REUSEPORT socket and serves it with node:http
 * (Node's parser and timeouts) or, with --engine native, Deno.serve. Workers run with the
 * arbiter's own flags and permissions.
 */
import process from "node:process";
import type { Backend, Runtime } from "../../src/runtime.ts";
import { host } from "../_shared/host.ts";
import { moduleBeside, spawnWorker } from "../_shared/spawn.ts";
import { probePort } from "./bind.ts";
import { commandLine, workerFlags } from "./flags.ts";
import { importModule } from "./loader.ts";
import { serve } from "./serve.ts";

// A path, or the module's URL when unicorn itself is remote (JSR).
const WORKER_ENTRY = moduleBeside(import.meta.url, "./worker.mjs", "./worker.ts");
const Deno = (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno;

const backend: Backend = {
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
        "put a proxy that does in front, or use --engine node; a worker that stops (reload, recycle) can reset " +
        "a connection Deno.serve accepted in its last instant",
    },
  },
  bindShared: () => Promise.reject(new Error("a Deno arbiter cannot hand sockets to workers")),
  probePort,
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
  importModule,
};

/** The Deno runtime, for `mod.ts` and the worker entry. */
export const runtime: Runtime = { ...host, ...backend };
