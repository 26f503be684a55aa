/** Importing the app and config files on Deno, which runs TypeScript itself. */
import { pathToFileURL } from "node:url";
import type { ImportedModule, ImportOptions } from "../../src/runtime.ts";

/** "at" this module, coloured or not, ending a message. */
const OWN_FRAME = new RegExp(
  `\\n\\s+at (\\x1b\\[[0-9;]*m)*${import.meta.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\x1b\\[[0-9;]*m|:|\\d)*$`,
);

/** A file URL, not a path: from a remote module (JSR) a path would resolve against the module's URL. */
export async function importModule(path: string, options?: ImportOptions): Promise<ImportedModule> {
  const url = pathToFileURL(path).href;
  try {
    return { exports: await import(options?.fresh ? `${url}?v=${Date.now()}` : url) };
  } catch (error) {
    // Deno ends "Module not found" with where the import was made: this file, not the app.
    if (error instanceof Error) error.message = error.message.replace(OWN_FRAME, "");
    throw error;
  }
}
