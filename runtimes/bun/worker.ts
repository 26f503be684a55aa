/** Entry point of a Bun worker process. */
import { runWorker } from "../../src/worker/worker.ts";
import { runtime } from "./mod.ts";

await runWorker(runtime);
