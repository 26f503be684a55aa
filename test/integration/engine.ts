/**
 * Which HTTP engine a suite runs against: a runtime's default, or `--engine native` (Deno.serve on
 * Deno). A suite given an engine starts every server with it, and skips, with the reason in the test's
 * name, what that engine cannot do.
 */
import { test } from "vitest";
import type { RuntimeName } from "../helpers/server.ts";

/** A runtime's other engine: `native` (Bun.serve, Deno.serve) or `node` (node:http). */
export type Engine = "native" | "node";

/** The extra arguments that choose `engine`. */
export function engineArgs(engine: Engine | undefined): string[] {
  return engine ? ["--engine", engine] : [];
}

/** The name a suite's describe blocks start with: `deno`, `deno-native`. */
export function label(runtime: RuntimeName, engine: Engine | undefined): string {
  return engine ? `${runtime}-${engine}` : runtime;
}

type TestBody = () => Promise<void> | void;

/**
 * `test`, unless `reason` says why it cannot pass here: then skipped, the reason in its name, as
 * `... (skipped: Deno.serve has no header deadline)`.
 */
export function testUnless(reason: string | false | undefined): (name: string, body: TestBody) => void {
  return (name, body) => (reason ? test.skip(`${name} (skipped: ${reason})`, body) : test(name, body));
}

/**
 * `base` (`test` by default, or `describe`, or a conditional `test.skip`) on a runtime's default engine;
 * nothing at all with another engine: for what no engine touches (the arbiter, the settings, loading
 * the app, spawning and killing processes), run once per runtime is enough.
 */
export function defaultEngineOnly(
  engine: Engine | undefined,
  base: (name: string, body: TestBody) => void = test,
): (name: string, body: TestBody) => void {
  return engine ? () => {} : base;
}
