import { httpSuite } from "./http-suite.ts";
import { corpusSuite } from "./corpus-suite.ts";
import { configSuite } from "./config-suite.ts";
import { behaviourSuite } from "./suite.ts";
import { supervisionSuite } from "./supervision-suite.ts";

behaviourSuite("deno");
configSuite("deno");
supervisionSuite("deno");
corpusSuite("deno");
httpSuite("deno");
corpusSuite("deno", "native");
