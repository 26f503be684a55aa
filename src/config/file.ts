/** Finding and loading the config file. */
import { ExitCode, messageOf, UnicornError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import { importForLoad, moduleExports } from "../load/import.ts";
import type { FileLayer, ParsedArgs } from "./resolve.ts";

/** Looked for in the working directory, in this order, when no `-c` is given. */
export const DEFAULT_CONFIG_FILES: readonly string[] = [
  "unicorn.config.ts",
  "unicorn.config.js",
  "unicorn.config.mjs",
  "unicorn.config.json",
];

/** The config file to load: `-c` on the command line, then in UNICORN_CMD_ARGS, then UNICORN_CONFIG, then the defaults. */
export function findConfigFile(
  runtime: Runtime,
  cwd: string,
  layers: readonly (ParsedArgs | undefined)[],
): string | undefined {
  for (const layer of layers) {
    const explicit = layer?.values.findLast((v) => v.setting.name === "config")?.value as string | undefined;
    if (explicit !== undefined) return runtime.resolvePath(cwd, explicit);
  }
  const fromEnv = runtime.env().UNICORN_CONFIG;
  if (fromEnv) return runtime.resolvePath(cwd, fromEnv);
  for (const name of DEFAULT_CONFIG_FILES) {
    const path = runtime.resolvePath(cwd, name);
    if (runtime.fileExists(path)) return path;
  }
  return undefined;
}

function configError(path: string, reason: string): UnicornError {
  return new UnicornError(`Cannot load config "${path}": ${reason}`, ExitCode.USAGE);
}

/** Reads a JSON config, or imports a module config and takes its default export. */
export async function loadConfigFile(runtime: Runtime, path: string, fresh = false): Promise<FileLayer> {
  if (!runtime.fileExists(path)) throw configError(path, "no such file");
  let values: unknown;
  if (path.endsWith(".json")) {
    const text = runtime.readTextFile(path);
    if (text === undefined) throw configError(path, "it cannot be read");
    try {
      values = JSON.parse(text);
    } catch (error) {
      throw configError(path, `it is not valid JSON: ${messageOf(error)}`);
    }
  } else {
    const module = moduleExports((await importForLoad(runtime, path, `config "${path}"`, ExitCode.USAGE, { fresh })).exports);
    if (!("default" in module)) throw configError(path, "it has no default export: export default defineConfig({ ... })");
    values = module.default;
  }
  if (values === null || typeof values !== "object" || Array.isArray(values)) {
    throw configError(path, "expected an object of settings");
  }
  return { path, values: values as Record<string, unknown> };
}
