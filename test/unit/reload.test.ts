import { describe, expect, test } from "vitest";
import { type GenerationMember, Reloads } from "../../src/arbiter/reload.ts";

const rollback = (name: string, numWorkers = 2) => ({ config: name, configFile: `${name}.json`, numWorkers });
const worker = (generation: number, state: GenerationMember["state"] = "serving"): GenerationMember => ({ generation, state });

describe("the reload state machine", () => {
  test("a HUP starts a new generation that is done once enough of it serves and no older worker is left serving", () => {
    const reloads = new Reloads<string>();
    expect(reloads.generation).toBe(1);
    expect(reloads.begin(10, rollback("v1"))).toBe(2);
    expect(reloads.underWay).toBe(2);
    expect(reloads.complete([worker(1), worker(1), worker(2)], 2, 11)).toBeUndefined();
    expect(reloads.complete([worker(1, "retiring"), worker(2), worker(2, "booting")], 2, 11)).toBeUndefined();
    expect(reloads.complete([worker(1, "retiring"), worker(2), worker(2)], 2, 10.25)).toEqual({ generation: 2, serving: 2, ms: 250 });
    expect(reloads.underWay).toBeUndefined();
    // Said once.
    expect(reloads.complete([worker(2), worker(2)], 2, 12)).toBeUndefined();
  });

  test("a boot failure aborts the reload it belongs to, halts outside one, and is ignored when retired or abandoned", () => {
    const reloads = new Reloads<string>();
    expect(reloads.bootFailed(worker(1, "booting"))).toBe("halt");
    reloads.begin(0, rollback("v1"));
    expect(reloads.bootFailed(worker(2, "booting"))).toBe("abort-reload");
    expect(reloads.bootFailed(worker(1, "retiring"))).toBe("ignore");
    const { generation, rollback: back } = reloads.abort();
    expect(generation).toBe(2);
    expect(back).toMatchObject({ config: "v1", configFile: "v1.json", numWorkers: 2 });
    expect(reloads.bootFailed(worker(2, "booting"))).toBe("ignore");
    // Replacements started after the abort are of a generation of their own.
    expect(reloads.generation).toBe(3);
    expect(reloads.underWay).toBeUndefined();
  });

  test("a HUP during a reload supersedes it: the first one is abandoned, and the rollback stays the one before both", () => {
    const reloads = new Reloads<string>();
    reloads.begin(0, rollback("v1", 2));
    reloads.begin(1, rollback("v2", 4));
    expect(reloads.underWay).toBe(3);
    expect(reloads.bootFailed(worker(2, "booting"))).toBe("ignore");
    expect(reloads.abort().rollback).toMatchObject({ config: "v1", numWorkers: 2 });
  });
});
