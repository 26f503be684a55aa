import { describe, expect, test } from "vitest";
import { describeLoadFailure, formatLoadFailure } from "../../src/load/failure.ts";
import { moduleExports } from "../../src/load/import.ts";

const toPath = (url: string) => decodeURIComponent(new URL(url).pathname);
const SOURCE = new Map([["/srv/my app/app.ts", 'const a = 1;\nexport default { fetch( => 1 };\n']]);
const read = (file: string) => SOURCE.get(file);

function failing(message: string, stack: string, extra: Record<string, unknown> = {}): Error {
  const error = Object.assign(new Error(message), extra);
  error.stack = stack;
  return error;
}

describe("where a module failed to load", () => {
  test("Bun: the first BuildMessage's position, and how many more", () => {
    const error = Object.assign(new AggregateError([], '2 errors building "/srv/my app/app.ts"'), {
      errors: [
        { message: 'Expected identifier but found "=>"', position: { file: "/srv/my app/app.ts", line: 2, column: 25 } },
        { message: "Unexpected end of file", position: { file: "/srv/my app/app.ts", line: 2, column: 32 } },
      ],
    });
    expect(describeLoadFailure(error, toPath)).toEqual({
      message: 'Expected identifier but found "=>" (and 1 more)',
      location: { file: "/srv/my app/app.ts", line: 2, column: 25 },
    });
  });

  test("esbuild (tsx): file:line:column with a 0-based column", () => {
    const error = failing('Transform failed with 1 error:\n/srv/my app/app.ts:2:24: ERROR: Expected identifier but found "=>"', "");
    expect(describeLoadFailure(error, toPath).location).toEqual({ file: "/srv/my app/app.ts", line: 2, column: 25 });
  });

  test("Deno: the location after 'at', coloured, percent-encoded", () => {
    const message = "SyntaxError: Unexpected token `=>`\n  |\n2 | ...\n    at \x1b[0m\x1b[36mfile:///srv/my%20app/app.ts\x1b[0m:\x1b[0m\x1b[33m2\x1b[0m:\x1b[0m\x1b[33m25\x1b[0m";
    expect(describeLoadFailure(failing(message, ""), toPath)).toEqual({
      message: "Unexpected token `=>`",
      location: { file: "/srv/my app/app.ts", line: 2, column: 25 },
    });
  });

  test("Node's parser: file:line, the source line and a caret before the stack", () => {
    const stack = "file:///srv/my%20app/app.ts:2\nexport default { fetch( => 1 };\n                        ^^\n\nSyntaxError: Unexpected token\n    at compileSourceTextModule (node:internal/modules/esm/utils:346:16)";
    expect(describeLoadFailure(failing("Unexpected token", stack, { name: "SyntaxError" }), toPath).location)
      .toEqual({ file: "/srv/my app/app.ts", line: 2, column: 25 });
  });

  test("a throw while the module ran: the first frame in a file, internal frames skipped", () => {
    const stack = "Error: boom\n    at <anonymous> (/srv/my app/app.ts:3:7)\n    at ModuleJob.run (node:internal/modules/esm/module_job:325:25)";
    expect(describeLoadFailure(failing("boom", stack), toPath)).toEqual({
      message: "boom",
      location: { file: "/srv/my app/app.ts", line: 3, column: 7 },
    });
    const bunStack = "Error: boom\n    at /srv/my app/app.ts:3:11";
    expect(describeLoadFailure(failing("boom", bunStack), toPath).location?.column).toBe(11);
  });

  test("no location: the message alone", () => {
    expect(describeLoadFailure(failing("Cannot find package 'x'", "Error: x\n    at node:internal/x:1:1"), toPath))
      .toEqual({ message: "Cannot find package 'x'" });
    expect(describeLoadFailure("a string", toPath)).toEqual({ message: "a string" });
  });

  test("printed as a compiler does: the line, then the source line with a caret under the column", () => {
    const text = formatLoadFailure('Cannot import app "app.ts"', {
      message: "Unexpected token",
      location: { file: "/srv/my app/app.ts", line: 2, column: 25 },
    }, read);
    expect(text).toBe([
      'Cannot import app "app.ts": Unexpected token (/srv/my app/app.ts:2:25)',
      "    2 | export default { fetch( => 1 };",
      "      |                         ^",
    ].join("\n"));
    expect(formatLoadFailure("Cannot import x", { message: "m", location: { file: "/gone.ts", line: 1, column: 1 } }, read))
      .toBe("Cannot import x: m (/gone.ts:1:1)");
  });

  test("CommonJS run as an ES module says what to do", () => {
    expect(formatLoadFailure("Cannot import x", { message: "require is not defined" }, read)).toBe(
      'Cannot import x: require is not defined; the file was run as an ES module: name it .cjs, or set "type": "commonjs" in its package.json',
    );
  });
});

describe("a module's exports", () => {
  test("an ES module compiled to CommonJS is seen through its __esModule exports", () => {
    const app = { fetch() {} };
    expect(moduleExports({ default: { __esModule: true, default: app, other: 1 } })).toEqual({ __esModule: true, default: app, other: 1 });
    const plain = { default: app };
    expect(moduleExports(plain)).toBe(plain);
    expect(moduleExports({ default: null })).toEqual({ default: null });
  });
});
