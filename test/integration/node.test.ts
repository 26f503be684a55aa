import { behaviourSuite } from "./suite.ts";
import { configSuite } from "./config-suite.ts";

behaviourSuite("node");
configSuite("node");
