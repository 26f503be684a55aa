/**
 * Where an app (or config) failed to load: the file, line and column of a syntax error or of an
 * import-time throw, and the source line, found in what each runtime and loader reports:
 *
 * - Bun: an AggregateError of BuildMessages, each with `position` (1-based line and column);
 * - Deno: the location after "at" in the message (1-based);
 * - Node's parser: `file:line`, the source line and a caret line before the stack;
 * - esbuild (tsx): `file:line:column: ERROR: message` (0-based column);
 * - a throw while the module ran: the first stack frame in a file.
 */

/** A place in a source file; line and column are 1-based. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** What went wrong, in one line, and where. */
export interface LoadFailure {
  readonly message: string;
  readonly location?: SourceLocation;
}

interface BuildMessage {
  message?: string;
  position?: { file?: string; line?: number; column?: number } | null;
}

/** `file:` URLs become paths; anything else (a remote module) stays as it is. */
type ToPath = (url: string) => string;

function pathOf(text: string, toPath: ToPath): string {
  return text.startsWith("file://") ? toPath(text) : text;
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0]!.trim();
}

function fromBun(error: { errors?: unknown[] }, toPath: ToPath): LoadFailure | undefined {
  const messages = (error.errors ?? []) as BuildMessage[];
  const first = messages.find((m) => m?.position?.file);
  if (!first?.position) return undefined;
  const more = messages.length > 1 ? ` (and ${messages.length - 1} more)` : "";
  const { file, line = 1, column = 1 } = first.position;
  return {
    message: `${first.message ?? "cannot build the module"}${more}`,
    location: { file: pathOf(file!, toPath), line, column },
  };
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const ESBUILD = /^(.+?):(\d+):(\d+): ERROR: (.+)$/m;
const NODE_PARSE = /^((?:file:\/\/)?\/[^\n]*?):(\d+)\n([^\n]*)\n( *)\^/;
const DENO_AT = /\n\s+at ((?:file|https?):\/\/\S+?):(\d+):(\d+)\s*$/;
const FRAME = /^\s+at (?:async )?(?:[^\n(]*\()?((?:file:\/\/|https?:\/\/|\/)[^\n]*?):(\d+):(\d+)\)?\s*$/m;

/** Finds the message and the location of a failure to import or run a module. */
export function describeLoadFailure(error: unknown, toPath: ToPath): LoadFailure {
  if (!(error instanceof Error)) return { message: String(error) };
  const bun = fromBun(error as { errors?: unknown[] }, toPath);
  if (bun) return bun;
  // Deno colours its messages even when nothing is a terminal.
  const message = error.message.replace(ANSI, "");
  const esbuild = ESBUILD.exec(message);
  if (esbuild) {
    return {
      message: esbuild[4]!,
      location: { file: pathOf(esbuild[1]!, toPath), line: Number(esbuild[2]), column: Number(esbuild[3]) + 1 },
    };
  }
  const deno = DENO_AT.exec(message);
  if (deno) {
    return {
      message: firstLine(message).replace(/^SyntaxError: /, ""),
      location: { file: pathOf(deno[1]!, toPath), line: Number(deno[2]), column: Number(deno[3]) },
    };
  }
  const stack = (error.stack ?? "").replace(ANSI, "");
  const parse = NODE_PARSE.exec(stack);
  if (parse) {
    return {
      message: firstLine(message),
      location: { file: pathOf(parse[1]!, toPath), line: Number(parse[2]), column: parse[4]!.length + 1 },
    };
  }
  const frame = FRAME.exec(stack);
  if (frame) {
    return {
      message: firstLine(message) || error.name,
      location: { file: pathOf(frame[1]!, toPath), line: Number(frame[2]), column: Number(frame[3]) },
    };
  }
  return { message: firstLine(message) || error.name };
}

/**
 * The failure as a log entry: a first line that says what and where, then the source line with
 * a caret under the column, as compilers print it.
 *
 * @example
 * ```ts
 * formatLoadFailure('Cannot import app "app.ts"', failure, readTextFile);
 * // Cannot import app "app.ts": Expected ")" but found "=>" (/srv/app.ts:2:25)
 * //     2 | export default { fetch( => 1 };
 * //       |                         ^
 * ```
 */
export function formatLoadFailure(
  what: string,
  failure: LoadFailure,
  readTextFile: (path: string) => string | undefined,
): string {
  const { location } = failure;
  // CommonJS run as an ES module (Deno takes any .js for one unless package.json says "commonjs").
  const hint = /^(require|module|exports) is not defined$/.test(failure.message)
    ? '; the file was run as an ES module: name it .cjs, or set "type": "commonjs" in its package.json'
    : "";
  if (!location) return `${what}: ${failure.message}${hint}`;
  const head = `${what}: ${failure.message}${hint} (${location.file}:${location.line}:${location.column})`;
  const source = location.file.startsWith("/") ? readTextFile(location.file)?.split("\n")[location.line - 1] : undefined;
  if (source === undefined || source.length > 400) return head;
  const number = String(location.line);
  const gutter = " ".repeat(number.length);
  const indent = source.slice(0, location.column - 1).replace(/[^\t]/g, " ");
  return `${head}\n    ${number} | ${source.replace(/\s+$/, "")}\n    ${gutter} | ${indent}^`;
}
