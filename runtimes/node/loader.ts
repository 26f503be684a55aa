/**
 * Importing the app and config files on Node, TypeScript included, with the same meaning as under
 * tsx on every Node from 20 to 26 and whatever the folder's package.json says.
 *
 * Node >= 22.18 strips types itself, ~4x faster at start-up than tsx, but only in strip-only mode:
 * no enums, namespaces or parameter properties, no extensionless relative imports, no decorators,
 * no ES syntax in a CommonJS package. A TypeScript module is tried with Node first; when Node
 * refuses it before running any of it, it is imported through tsx instead. Node 20 has no type
 * stripping: tsx always, registered for the process. After a failed attempt, tsx's `tsImport` loads
 * the module graph in a namespace of its own, so what Node loaded (and cached) is not reused.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { ImportedModule, ImportOptions } from "../../src/runtime.ts";

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;
const STRIPS_TYPES = Boolean((process.features as { typescript?: string | false }).typescript);

/** Why Node's own loading failed where tsx may succeed, or undefined when tsx would not help. */
export function whyTsx(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: string }).code;
  const first = error.message.split("\n", 1)[0]!;
  switch (code) {
    case "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX":
      return first.replace(/^TypeScript /, "");
    case "ERR_MODULE_NOT_FOUND":
    case "ERR_UNSUPPORTED_DIR_IMPORT":
      return "an import Node cannot resolve (extensionless, a folder, or a tsconfig path)";
    case "ERR_UNKNOWN_FILE_EXTENSION":
      return "a file extension Node does not load";
    case "ERR_IMPORT_ATTRIBUTE_MISSING":
      return 'a JSON import without with { type: "json" }';
    case "ERR_INVALID_TYPESCRIPT_SYNTAX":
      return "syntax Node's type stripping does not parse";
  }
  // A SyntaxError raised while parsing (ES syntax in a CommonJS package, decorators) has no frame
  // in a file: only Node's own. One raised by running code (JSON.parse) has.
  if (error instanceof SyntaxError && !/^\s+at .*(file:\/\/|\(\/|at \/)/m.test(error.stack ?? "")) {
    return `syntax Node does not parse here (${first})`;
  }
  return undefined;
}

/** The "type" of the package a file belongs to (its nearest package.json), as Node reads it. */
function packageType(file: string): string | undefined {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      return (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { type?: string }).type ?? "none";
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT" || dir === path.dirname(dir)) return undefined;
    }
  }
}

let tsx: Promise<typeof import("tsx/esm/api")> | undefined;
let globalTsx: Promise<unknown> | undefined;

function importWithTsx(url: string): Promise<Record<string, unknown>> {
  tsx ??= import("tsx/esm/api");
  // A namespace per call: always a fresh module graph.
  return tsx.then(({ tsImport }) => tsImport(url, { parentURL: import.meta.url }));
}

/**
 * The location finder's child: parses the module and the modules it imports (relative ones, by their
 * specifiers) with vm.SourceTextModule, which only parses (nothing links or runs), and lets the
 * first SyntaxError go uncaught, so that Node prints where it is.
 */
const LOCATE = `const vm = require("node:vm"), fs = require("node:fs"), url = require("node:url");
const seen = new Set();
function walk(href) {
  if (seen.has(href) || !href.startsWith("file:")) return;
  seen.add(href);
  const module = new vm.SourceTextModule(fs.readFileSync(url.fileURLToPath(href), "utf8"), { identifier: href });
  for (const spec of module.dependencySpecifiers) if (/^\\.{0,2}\\//.test(spec)) walk(new URL(spec, href).href);
}
walk(process.argv[1]);`;

/**
 * Node gives a SyntaxError of an ES module no location when it is caught (it prints one, with the
 * source line and a caret, only for an uncaught one): a child process parses the module graph again,
 * running none of it, and the location it prints is put where Node puts it for an uncaught error.
 * Only on this failure path.
 */
function locateSyntaxError(error: unknown, url: string): unknown {
  if (!(error instanceof SyntaxError) || (error as { code?: string }).code !== undefined) return error;
  if (/^\s+at .*(file:\/\/|\(\/|at \/)/m.test(error.stack ?? "")) return error;
  const child = spawnSync(process.execPath, ["--experimental-vm-modules", "--no-warnings", "-e", LOCATE, url], {
    encoding: "utf8",
    timeout: 10_000,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const where = /^(file:\/\/\S+:\d+)\n([^\n]*)\n( *\^+)\n/m.exec(child.stderr ?? "");
  if (where) error.stack = `${where[1]}\n${where[2]}\n${where[3]}\n\n${error.stack}`;
  return error;
}

/** Imports a module by path: JavaScript as Node does, TypeScript with Node's stripping or tsx. */
export async function importModule(path: string, options: ImportOptions = {}): Promise<ImportedModule> {
  try {
    return await importAs(path, options);
  } catch (error) {
    throw locateSyntaxError(error, pathToFileURL(path).href);
  }
}

async function importAs(filePath: string, options: ImportOptions): Promise<ImportedModule> {
  const url = pathToFileURL(filePath).href;
  const native = options.fresh ? `${url}?v=${Date.now()}` : url;
  if (!TYPESCRIPT.test(filePath)) return { exports: await import(native) };
  if (!STRIPS_TYPES) {
    // Registered for the whole process, as `node --import tsx` does: CommonJS modules then keep their
    // source maps on Node 20 (a namespaced tsImport runs them from data: URLs, and stacks lose the file).
    globalTsx ??= Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]).then(([esm, cjs]) => {
      esm.register();
      cjs.register();
    });
    await globalTsx;
    return { exports: await import(native), loader: { name: "tsx", reason: `Node ${process.versions.node} cannot strip types` } };
  }
  // A .ts file of a "type": "commonjs" package is CommonJS to Node: ES syntax in it fails (with a
  // warning printed) where tsx takes it. Node is not asked.
  if (options.loader !== "tsx" && /\.tsx?$/.test(filePath) && packageType(filePath) === "commonjs") {
    return { exports: await importWithTsx(url), loader: { name: "tsx", reason: 'the package is "type": "commonjs"' } };
  }
  if (options.loader !== "tsx") {
    try {
      return { exports: await import(native), loader: { name: "Node's type stripping" } };
    } catch (error) {
      const reason = whyTsx(error);
      if (reason === undefined) throw error;
      return { exports: await importWithTsx(url), loader: { name: "tsx", reason } };
    }
  }
  return { exports: await importWithTsx(url), loader: { name: "tsx", reason: "an earlier worker needed it" } };
}
