import { runtimeSuites } from "./all.ts";

runtimeSuites("bun");
