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
export { ExitCode, UnicornError } from "./src/errors.ts";
export { VERSION } from "./src/version.ts";

if ((import.meta as ImportMeta & { main?: boolean }).main) {
  const global = globalThis as { Bun?: unknown; Deno?: unknown };
  if (global.Bun) await import("./runtimes/bun/main.ts");
  else if (global.Deno) await import("./runtimes/deno/main.ts");
  else await import("./runtimes/node/main.ts");
}
