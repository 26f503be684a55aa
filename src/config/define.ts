import type { Hooks } from "./hooks.ts";
import type { Config } from "./settings.ts";

type ListKeys = "bind" | "forwardedAllowIps" | "proxyAllowFrom" | "env" | "reloadExtraFiles";
type CliOnly = "config" | "printConfig" | "checkConfig";

/** What a config file may hold: any setting by its name (see docs/settings.md), the app, and hooks. */
export type UserConfig =
  & Partial<Omit<Config, ListKeys | CliOnly | keyof Hooks>>
  & { [K in ListKeys]?: string | string[] }
  & Hooks;

/**
 * Types a config file's settings; returns them as they are.
 *
 * @example
 * ```ts
 * // unicorn.config.ts
 * import { defineConfig } from "unicorn-http";
 *
 * export default defineConfig({
 *   app: "src/app.ts",
 *   bind: ["0.0.0.0:8000"],
 *   workers: 4,
 *   postWorkerInit(worker) {
 *     worker.log?.info(`worker ${worker.id} ready`);
 *   },
 * });
 * ```
 */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}
