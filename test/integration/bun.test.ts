import { behaviourSuite } from "./suite.ts";
import { configSuite } from "./config-suite.ts";

behaviourSuite("bun");
configSuite("bun");
