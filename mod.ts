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
export { shutdownSignal } from "./src/worker/shutdown.ts";
export { type ServerWebSocket, type Upgraded, type UpgradeOptions, upgradeWebSocket } from "./src/http/websocket.ts";

// Run as a program (scripts/build.mjs cuts the API bundle here):
// Not awaited: a config file that imports defineConfig from this module must be able to
// finish importing it while the CLI is still starting (a top-level await would deadlock).
// The entry is chosen at run time, not written out three times: Deno (from JSR) would otherwise
// fetch the Node backend's dependencies (tsx, esbuild) that it never runs.
if ((import.meta as ImportMeta & { main?: boolean }).main) {
  const global = globalThis as { Bun?: unknown; Deno?: unknown };
  const runtime = global.Bun ? "bun" : global.Deno ? "deno" : "node";
  void import(new URL(`./runtimes/${runtime}/main.ts`, import.meta.url).href);
}
