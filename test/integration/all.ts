/** Every integration suite, for one runtime: each runtime's test file is this one call. */
import { configSuite } from "./config-suite.ts";
import { corpusSuite } from "./corpus-suite.ts";
import type { Engine } from "./engine.ts";
import { frameworksSuite } from "./frameworks-suite.ts";
import { httpSuite } from "./http-suite.ts";
import { http2Suite } from "./http2-suite.ts";
import { observabilitySuite } from "./observability-suite.ts";
import { supervisionSuite } from "./supervision-suite.ts";
import { behaviourSuite } from "./suite.ts";
import { websocketSuite } from "./websocket-suite.ts";
import type { RuntimeName } from "../helpers/server.ts";

export function runtimeSuites(runtime: RuntimeName): void {
  behaviourSuite(runtime);
  configSuite(runtime);
  supervisionSuite(runtime);
  corpusSuite(runtime);
  httpSuite(runtime);
  frameworksSuite(runtime);
  // The control socket, metrics, health path and titles: the arbiter's, and the request pipeline shared by every engine.
  observabilitySuite(runtime);
  websocketSuite(runtime);
  // HTTP/2 (ALPN over TLS, h2c from trusted peers), on the runtime's default engine and its other one.
  http2Suite(runtime);
  // Bun's node:http, which serves Node-style apps there: the wire-level suite.
  if (runtime === "bun") corpusSuite("bun", "node");
  // Bun's node:http for a Fetch app (--engine node): upgradeWebSocket and long streams there.
  if (runtime === "bun") websocketSuite("bun", "node");
  // Deno's second engine, Deno.serve: the same suites, each running only the tests where the engine
  // matters (each suite says which, and why the others are engine-independent); what Deno.serve
  // cannot do is skipped with the reason in the test's name.
  if (runtime === "deno") secondEngine("deno", "native");
}

function secondEngine(runtime: RuntimeName, engine: Engine): void {
  behaviourSuite(runtime, engine);
  configSuite(runtime, engine);
  supervisionSuite(runtime, engine);
  corpusSuite(runtime, engine);
  httpSuite(runtime, engine);
  frameworksSuite(runtime, engine);
  websocketSuite(runtime, engine);
}
