/**
 * Turns `APP` (`path/to/module.ts`, `module.ts:name`, `module.ts:factory()`)
 * into a Fetch handler.
 */
import { ExitCode, messageOf, UnicornError } from "../errors.ts";
import type { FetchHandler, ImportedModule, ImportOptions, Runtime } from "../runtime.ts";
import { describeLoadFailure } from "../load/failure.ts";
import { importForLoad, moduleExports } from "../load/import.ts";

/** A parsed `APP`. */
export interface AppSpec {
  readonly path: string;
  readonly name: string;
  readonly factory: boolean;
}

/**
 * Splits `APP` into the module path, the export name and whether it is a factory.
 *
 * @example
 * ```ts
 * parseAppSpec("src/app.ts:create()"); // { path: "src/app.ts", name: "create", factory: true }
 * ```
 */
export function parseAppSpec(text: string): AppSpec {
  const match = /^(.+?)(?::([A-Za-z_$][\w$]*)(\(\))?)?$/.exec(text);
  if (!match || match[1] === undefined || match[1].endsWith(":")) {
    throw new UnicornError(
      `Cannot load app "${text}": expected path/to/module.ts, module.ts:name or module.ts:factory()`,
      ExitCode.USAGE,
    );
  }
  return { path: match[1], name: match[2] ?? "default", factory: match[3] !== undefined };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const keys = Object.keys(value as object).slice(0, 5);
    return keys.length ? `an object with keys ${keys.join(", ")}` : "an empty object";
  }
  return `a ${typeof value}`;
}

/** Returns the handler an export stands for, or undefined when it is not one. */
export function toHandler(value: unknown): FetchHandler | undefined {
  if (typeof value === "function") return value as FetchHandler;
  if (value !== null && typeof value === "object" && typeof (value as { fetch?: unknown }).fetch === "function") {
    const app = value as { fetch: FetchHandler };
    return app.fetch.bind(app);
  }
  return undefined;
}

/** An app once loaded: its handler, and the loader that compiled it where the runtime had a choice. */
export interface LoadedApp {
  readonly handler: FetchHandler;
  readonly loader?: ImportedModule["loader"];
}

/**
 * Imports the module, picks the export, awaits the factory, checks the shape.
 *
 * An import failure or a wrong shape throws with exit code 4; a factory that
 * throws, with exit code 3 (the worker failed to boot).
 */
export async function loadApp(text: string, runtime: Runtime, cwd: string, options?: ImportOptions): Promise<LoadedApp> {
  const spec = parseAppSpec(text);
  const path = runtime.resolvePath(cwd, spec.path);
  if (!runtime.fileExists(path)) {
    throw new UnicornError(`Cannot load app "${text}": no file at "${path}"`, ExitCode.APP_LOAD_ERROR);
  }
  const imported = await importForLoad(runtime, path, `app "${text}"`, ExitCode.APP_LOAD_ERROR, options);
  const module = moduleExports(imported.exports);
  if (!(spec.name in module)) {
    const names = Object.keys(module);
    throw new UnicornError(
      `Cannot load app "${text}": the module has no export "${spec.name}"` +
        (names.length ? ` (it exports ${names.join(", ")})` : " (it exports nothing)"),
      ExitCode.APP_LOAD_ERROR,
    );
  }
  let value = module[spec.name];
  if (spec.factory) {
    if (typeof value !== "function") {
      throw new UnicornError(
        `Cannot load app "${text}": "${spec.name}" is ${describe(value)}, not a factory function`,
        ExitCode.APP_LOAD_ERROR,
      );
    }
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      const failure = describeLoadFailure(error, (url) => runtime.fileFromUrl(url));
      const where = failure.location ? ` (${failure.location.file}:${failure.location.line}:${failure.location.column})` : "";
      throw new UnicornError(`Cannot boot app "${text}": the factory threw: ${messageOf(error)}${where}`,
        ExitCode.WORKER_BOOT_ERROR, { cause: error });
    }
  }
  const handler = toHandler(value);
  if (!handler) {
    throw new UnicornError(
      `Cannot load app "${text}": "${spec.name}" is ${describe(value)}; ` +
        "expected an object with a fetch(request) method or a function (request) => Response",
      ExitCode.APP_LOAD_ERROR,
    );
  }
  return { handler, loader: imported.loader };
}
