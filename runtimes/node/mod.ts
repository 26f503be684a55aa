/** The Node backend: a shared socket bound by the arbiter, served by node:http in each worker. */
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { Runtime } from "../../src/runtime.ts";
import { connectControl, listenControl } from "../_shared/channel.ts";
import { probePort } from "../_shared/probe.ts";
import { commonParts, spawnWorker } from "../_shared/process.ts";
import { watchSources } from "../_shared/watch.ts";
import { bindShared } from "./bind.ts";
import { serve } from "./serve.ts";

// The bundle beside the arbiter's own (dist/), or the source when run from it through a TS loader.
const WORKER_ENTRY = new URL(import.meta.url.endsWith(".mjs") ? "./node-worker.mjs" : "./worker.ts", import.meta.url)
  .pathname;
const TYPESCRIPT_APP = /\.(ts|mts|cts|tsx)$/;

/** Node arguments that let a worker import `modules`: a TypeScript loader where Node has none. */
function loaderArgs(modules: readonly string[]): string[] {
  const native = (process.features as { typescript?: string }).typescript;
  if (!modules.some((m) => TYPESCRIPT_APP.test(m)) || native) return [];
  // Node 20 cannot strip types; tsx costs ~370 ms of start-up, so only TypeScript apps pay it.
  return ["--import", import.meta.resolve("tsx/esm")];
}

let tsxRegistered = false;

/** Imports a module; a TypeScript one through tsx when this Node cannot strip types (a config file, --check-config). */
async function importModule(path: string, fresh = false): Promise<Record<string, unknown>> {
  if (loaderArgs([path]).length > 0 && !tsxRegistered) {
    // Node caches a failed import, so the loader must be in place before the first try.
    const { register } = await import("tsx/esm/api");
    register();
    tsxRegistered = true;
  }
  const url = pathToFileURL(path).href;
  return await import(fresh ? `${url}?v=${Date.now()}` : url);
}

/** The Node runtime, for `bin/unicorn.mjs` and the worker entry. */
export const runtime: Runtime = {
  ...commonParts(),
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
  listenControl,
  connectControl,
  watchSources,
  spawnWorker: (spec) =>
    spawnWorker(
      spec.role === "arbiter"
        // USR2: a new arbiter, with this one's command line.
        ? [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)]
        : [process.execPath, ...process.execArgv, ...loaderArgs(spec.modules), WORKER_ENTRY],
      spec,
    ),
  serve,
  importModule,
};
