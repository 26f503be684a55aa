/** Entry point of the Node CLI (`npx unicorn`). */
import { main } from "../../src/cli/main.ts";
import { runtime } from "./mod.ts";

await main(runtime);
