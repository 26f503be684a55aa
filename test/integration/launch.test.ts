/** The launch commands README gives, from a checkout after `npm ci`. */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { expect, test } from "vitest";
import { ROOT } from "../helpers/server.ts";

const run = promisify(execFile);
const BIN = path.join(ROOT, "node_modules/.bin");

test.each([
  ["npx unicorn", "npx", ["--no-install", "unicorn", "--version"], "node"],
  ["bun mod.ts", path.join(BIN, "bun"), ["mod.ts", "--version"], "bun"],
  ["deno run -A mod.ts", path.join(BIN, "deno"), ["run", "-A", "mod.ts", "--version"], "deno"],
])("%s prints the version and its runtime", async (_name, cmd, args, runtime) => {
  const { stdout } = await run(cmd, args, { cwd: ROOT });
  expect(stdout.trim()).toMatch(new RegExp(`^unicorn \\d+\\.\\d+\\.\\d+ \\(${runtime} \\d+\\.\\d+\\.\\d+\\)$`));
});

test("--help lists the options and exits 0", async () => {
  const { stdout } = await run(process.execPath, ["bin/unicorn.mjs", "--help"], { cwd: ROOT });
  expect(stdout).toMatch(/^Usage: unicorn \[OPTIONS\] APP/);
  expect(stdout).toContain("-w, --workers INT");
});
