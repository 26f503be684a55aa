/** Every integration suite, for one runtime: each runtime's test file is this one call. */
import { configSuite } from "./config-suite.ts";
import { corpusSuite } from "./corpus-suite.ts";
import { frameworksSuite } from "./frameworks-suite.ts";
import { httpSuite } from "./http-suite.ts";
import { supervisionSuite } from "./supervision-suite.ts";
import { behaviourSuite } from "./suite.ts";
import type { RuntimeName } from "../helpers/server.ts";

export function runtimeSuites(runtime: RuntimeName): void {
  behaviourSuite(runtime);
  configSuite(runtime);
  supervisionSuite(runtime);
  corpusSuite(runtime);
  httpSuite(runtime);
  frameworksSuite(runtime);
  // Deno's second engine: the wire-level suite, where the engines differ most.
  // Bun's node:http, which serves Node-style apps there.
  if (runtime === "bun") corpusSuite("bun", "node");
  if (runtime === "deno") {
    corpusSuite("deno", "native");
    frameworksSuite("deno", "native");
  }
}
