/** The Node backend: a shared socket bound by the arbiter, served by node:http in each worker. */
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { Runtime } from "../../src/runtime.ts";
import { connectControl, listenControl } from "../_shared/channel.ts";
import { probePort } from "../_shared/probe.ts";
import { commonParts, spawnWorker } from "../_shared/process.ts";
import { bindShared } from "./bind.ts";
import { serve } from "./serve.ts";

const WORKER_ENTRY = new URL("./worker.ts", import.meta.url).pathname;
// Node 20 cannot strip types: workers load tsx, which runs our TypeScript and the app's.
const TSX = import.meta.resolve("tsx/esm");

/** The Node runtime, for `bin/unicorn.mjs` and the worker entry. */
export const runtime: Runtime = {
  ...commonParts(),
  name: "node",
  version: process.versions.node,
  capabilities: {
    sharedListeners: true,
    reusePort: false,
    engine: { shared: "node:http on the arbiter's sockets", "reuse-port": "unavailable" },
  },
  bindShared,
  probePort,
  listenControl,
  connectControl,
  spawnWorker: (spec) => spawnWorker([process.execPath, "--import", TSX, WORKER_ENTRY], spec),
  serve,
  importModule: (path) => import(pathToFileURL(path).href),
};
