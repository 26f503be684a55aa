import { runtimeSuites } from "./all.ts";

runtimeSuites("deno");
