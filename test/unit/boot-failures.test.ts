import { describe, expect, test } from "vitest";
import { BootFailures, haltingExit, MAX_UNBOOTED } from "../../src/arbiter/boot-failures.ts";

describe("boot failures", () => {
  test("exit 3 and 4 halt the arbiter with that code, booted or not; 2 and 6 only before the worker served", () => {
    for (const booted of [false, true]) {
      expect(haltingExit(3, booted)).toEqual({ reason: "a worker failed to boot", code: 3 });
      expect(haltingExit(4, booted)).toEqual({ reason: "the app failed to load", code: 4 });
    }
    expect(haltingExit(2, false)).toEqual({ reason: "a worker could not load its configuration", code: 2 });
    expect(haltingExit(6, false)).toEqual({ reason: "a worker lacks a runtime permission", code: 6 });
    expect(haltingExit(2, true)).toBeUndefined();
    expect(haltingExit(6, true)).toBeUndefined();
    for (const code of [0, 1, 5, 7, 137, null]) expect(haltingExit(code, false)).toBeUndefined();
  });

  test(`${MAX_UNBOOTED} workers in a row exiting before they serve halt with code 3, saying how the last one ended`, () => {
    const failures = new BootFailures();
    for (let i = 1; i < MAX_UNBOOTED; i++) expect(failures.exitedUnbooted(1, null)).toBeUndefined();
    expect(failures.exitedUnbooted(null, "SIGKILL")).toEqual({
      reason: `${MAX_UNBOOTED} workers in a row exited before they served (the last was sent SIGKILL); their own output above says why`,
      code: 3,
    });
    const other = new BootFailures();
    for (let i = 1; i < MAX_UNBOOTED; i++) other.exitedUnbooted(1, null);
    expect(other.exitedUnbooted(7, null)?.reason).toMatch(/\(the last exited with code 7\)/);
  });

  test("a worker that serves, an abandoned reload and a new generation start the count again", () => {
    for (const reset of ["served", "resetCount", "newGeneration"] as const) {
      const failures = new BootFailures();
      for (let i = 1; i < MAX_UNBOOTED; i++) failures.exitedUnbooted(1, null);
      failures[reset]();
      for (let i = 1; i < MAX_UNBOOTED; i++) expect(failures.exitedUnbooted(1, null), reset).toBeUndefined();
      expect(failures.exitedUnbooted(1, null), reset).toBeDefined();
    }
  });

  test("a reason is said once until a new generation; a worker that gave none is named", () => {
    const failures = new BootFailures();
    expect(failures.toSay({ pid: 10, failure: "Cannot import app" })).toBe("Cannot import app");
    expect(failures.toSay({ pid: 11, failure: "Cannot import app" })).toBeUndefined();
    expect(failures.toSay({ pid: 12 })).toBe("Worker (pid:12) gave no reason; its own output above may say why");
    failures.resetCount();
    expect(failures.toSay({ pid: 13, failure: "Cannot import app" })).toBeUndefined();
    failures.newGeneration();
    expect(failures.toSay({ pid: 14, failure: "Cannot import app" })).toBe("Cannot import app");
  });
});
