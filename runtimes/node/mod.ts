/** The Node backend: a shared socket bound by the arbiter, served by node:http in each worker. */
import process from "node:process";
import type { Backend, Runtime } from "../../src/runtime.ts";
import { host } from "../_shared/host.ts";
import { probePort } from "../_shared/probe.ts";
import { moduleBeside, spawnWithExecArgv } from "../_shared/spawn.ts";
import { bindShared } from "./bind.ts";
import { importModule } from "./loader.ts";
import { serve } from "./serve.ts";

// The bundle beside the arbiter's own (dist/node/), or the source when run from it through a TS loader.
const WORKER_ENTRY = moduleBeside(import.meta.url, "./worker.mjs", "./worker.ts");

const backend: Backend = {
  name: "node",
  version: process.versions.node,
  capabilities: {
    sharedListeners: true,
    reusePort: false,
    engines: { node: "node:http" },
    acceptSurvivesEmfile: true,
    tls: { ciphers: true, clientCertificates: true },
    defaultEngine: "node",
  },
  bindShared,
  probePort,
  spawnWorker: spawnWithExecArgv(WORKER_ENTRY),
  serve,
  importModule,
};

/** The Node runtime, for `bin/unicorn.mjs` and the worker entry. */
export const runtime: Runtime = { ...host, ...backend };
