import { behaviourSuite } from "./suite.ts";
import { configSuite } from "./config-suite.ts";

behaviourSuite("deno");
configSuite("deno");
