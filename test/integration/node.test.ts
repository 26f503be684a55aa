import { runtimeSuites } from "./all.ts";

runtimeSuites("node");
