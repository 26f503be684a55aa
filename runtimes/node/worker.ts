/** Entry point of a Node worker process. */
import { runWorker } from "../../src/worker/worker.ts";
import { runtime } from "./mod.ts";

await runWorker(runtime);
