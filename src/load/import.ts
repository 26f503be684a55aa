/** Importing the app and the config file: CommonJS interop, and failures that say where. */
import { ExitCode, UnicornError } from "../errors.ts";
import type { ImportedModule, ImportOptions, Runtime } from "../runtime.ts";
import { describeLoadFailure, formatLoadFailure } from "./failure.ts";

/**
 * The exports of a module, seen through CommonJS: an ES module compiled to CommonJS (by tsx in a
 * package that is not `"type": "module"`, by tsc, by esbuild) is imported as `{ default: exports }`
 * with `exports.__esModule` set; its own exports are the ones meant.
 */
export function moduleExports(exports: Record<string, unknown>): Record<string, unknown> {
  const cjs = exports.default as { __esModule?: unknown } | null | undefined;
  if (cjs !== null && typeof cjs === "object" && cjs.__esModule === true) return cjs as Record<string, unknown>;
  return exports;
}

/** Imports a module for `what` ('app "app.ts"', 'config "x"'), with the failure's location in the error. */
export async function importForLoad(
  runtime: Runtime,
  path: string,
  what: string,
  exitCode: typeof ExitCode.APP_LOAD_ERROR | typeof ExitCode.USAGE,
  options?: ImportOptions,
): Promise<ImportedModule> {
  try {
    return await runtime.importModule(path, options);
  } catch (error) {
    const failure = describeLoadFailure(error, (url) => runtime.fileFromUrl(url));
    throw new UnicornError(formatLoadFailure(`Cannot import ${what}`, failure, (f) => runtime.readTextFile(f)), exitCode, {
      cause: error,
    });
  }
}

