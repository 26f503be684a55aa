/** Entry point of the Bun CLI (`bun mod.ts`). */
import { main } from "../../src/cli/main.ts";
import { runtime } from "./mod.ts";

await main(runtime);
