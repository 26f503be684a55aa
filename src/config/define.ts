import type { Hooks } from "./hooks.ts";
import type { CliOnlyKey, Config, ListKey } from "./settings.ts";

// Both from the settings table: a list setting added there is a list here.
type ListKeys = ListKey;
type CliOnly = CliOnlyKey;

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
