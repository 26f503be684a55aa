/** A strict reader of Prometheus' text exposition format, for the tests. */
import { expect } from "vitest";

/**
 * A strict reader of the Prometheus text format (0.0.4): every sample belongs to a family declared by
 * HELP and TYPE, names and labels are well formed, values are numbers, a histogram's buckets rise.
 */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(meta[3]);
        expect(types.has(meta[2]!), `TYPE twice for ${meta[2]}`).toBe(false);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/.exec(line);
    expect(sample, `not a sample line: ${line}`).not.toBeNull();
    const name = sample![1]!;
    const family = name.replace(/_(bucket|sum|count)$/, "");
    expect(types.has(name) || (types.get(family) === "histogram"), `no TYPE for ${name}`).toBe(true);
    const key = `${name}${sample![2] ?? ""}`;
    expect(samples.has(key), `${key} twice`).toBe(false);
    samples.set(key, Number(sample![3] === "+Inf" ? Infinity : sample![3]));
  }
  return samples;
}

