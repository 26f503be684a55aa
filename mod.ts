/**
 * unicorn: a pre-fork HTTP server for Fetch-API applications on Node, Bun and Deno.
 *
 * Run it as `npx unicorn APP`, `bun mod.ts APP` or `deno run -A mod.ts APP`.
 *
 * @example
 * ```ts
 * // app.ts: serve it with `unicorn app.ts -w 4`
 * export default { fetch: (request: Request) => new Response("Hello") };
 * ```
 * @module
 */
export type { ConnInfo, FetchHandler } from "./src/runtime.ts";
export { defineConfig, type UserConfig } from "./src/config/define.ts";
export type { Hooks, ServerInfo, WorkerInfo } from "./src/config/hooks.ts";
export { ExitCode, UnicornError } from "./src/errors.ts";
export { VERSION } from "./src/version.ts";

// Not awaited: a config file that imports defineConfig from this module must be able to
// finish importing it while the CLI is still starting (a top-level await would deadlock).
if ((import.meta as ImportMeta & { main?: boolean }).main) {
  const global = globalThis as { Bun?: unknown; Deno?: unknown };
  if (global.Bun) void import("./runtimes/bun/main.ts");
  else if (global.Deno) void import("./runtimes/deno/main.ts");
  else void import("./runtimes/node/main.ts");
}
