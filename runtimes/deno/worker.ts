/** Entry point of a Deno worker process. */
import { runWorker } from "../../src/worker/worker.ts";
import { runtime } from "./mod.ts";

await runWorker(runtime);
