/** Entry point of the Deno CLI (`deno run -A mod.ts`). */
import { main } from "../../src/cli/main.ts";
import { runtime } from "./mod.ts";

await main(runtime);
