/**
 * The malformed-request corpus (test/corpus/cases.ts) over raw sockets: no bad
 * request, and nothing smuggled behind one, reaches the app.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DEVIATIONS, INVALID, KEEPS_OPEN, type Seen, type Target, VALID } from "../corpus/cases.ts";
import { sendRaw } from "../helpers/raw.ts";
import type { Engine } from "./engine.ts";
import { killSuite, type RuntimeName, Server } from "../helpers/server.ts";

export function corpusSuite(runtime: RuntimeName, engine?: Engine): void {
  const target = (engine ? `${runtime}-${engine}` : runtime) as Target;
  const deviations = DEVIATIONS[target];
  const halfClose = KEEPS_OPEN[target] !== undefined;
  const argSets = [...new Set(INVALID.map((c) => JSON.stringify(c.args ?? [])))];
  const ports = new Map<string, number>();

  describe(`${target}: malformed-request corpus (${INVALID.length} invalid, ${VALID.length} valid cases)`, () => {
    beforeAll(async () => {
      const servers = argSets.map((args) =>
        new Server(runtime, ["corpus-app.ts", "-b", "127.0.0.1:0", ...(engine ? ["--engine", engine] : []), ...JSON.parse(args)], {
          suite: true,
        })
      );
      const urls = await Promise.all(servers.map((s) => s.ready()));
      argSets.forEach((args, i) => ports.set(args, Number(new URL(urls[i]!).port)));
    });
    afterAll(killSuite);

    for (const c of INVALID) {
      const deviation = deviations[c.id];
      const port = () => ports.get(JSON.stringify(c.args ?? []))!;
      if (deviation?.smuggles) {
        test.skip(`${c.category}: ${c.id} — SMUGGLES on ${target}: ${deviation.reason}`, () => {});
        continue;
      }
      if (deviation?.notApplicable) {
        test.skip(`${c.category}: ${c.id} — not applicable on ${target}: ${deviation.reason}`, () => {});
        continue;
      }
      if (deviation?.framed) {
        test(`${c.category}: ${c.id} — accepted on ${target} (${deviation.reason}); its body framed as written`, async () => {
          const result = await sendRaw(port(), c.raw, 5000, "127.0.0.1", halfClose);
          expect(result.text, "the app got the body whole").toContain("app:/p:5");
        });
        continue;
      }
      if (deviation?.accepted) {
        test(`${c.category}: ${c.id} — accepted on ${target} (${deviation.reason}); nothing smuggled`, async () => {
          const result = await sendRaw(port(), c.raw, 5000, "127.0.0.1", halfClose);
          expect(result.text).not.toContain("app:/smuggled");
        });
        continue;
      }
      const statuses = deviation?.status ?? c.status;
      const name = deviation ? `${c.id} — ${deviation.reason}` : c.id;
      test(`${c.category}: ${name}`, async () => {
        const result = await sendRaw(port(), c.raw, 5000, "127.0.0.1", halfClose);
        expect(result.text, "nothing smuggled reaches the app").not.toContain("app:/smuggled");
        if (c.phase === "body") return;
        expect(result.text, "the app never sees the request").not.toContain("app:");
        if (result.statuses.length === 0) expect(statuses, `closed without an answer:\n${result.text}`).toContain(0);
        else expect(statuses, result.text).toContain(result.statuses[0]);
        // Where the connection stays open, what follows a refusal is refused too.
        if (halfClose) expect(result.statuses.slice(1).every((s) => s === 400), result.text).toBe(true);
        else expect(result.statuses.length, "one answer only").toBeLessThanOrEqual(1);
        expect(result.closed, "the connection is closed").toBe(true);
      });
    }

    for (const c of VALID) {
      const deviation = deviations[c.id];
      if (deviation) {
        test.skip(`valid: ${c.id} — refused on ${target}: ${deviation.reason}`, () => {});
        continue;
      }
      test(`valid: ${c.id}`, async () => {
        const result = await sendRaw(ports.get("[]")!, c.raw, 5000, "127.0.0.1", halfClose && c.statuses !== undefined);
        expect(result.text.match(/app:[^\n]*/g) ?? [], result.text).toEqual(c.seen);
        if (c.sees) {
          const header = /^x-seen: (.*)$/im.exec(result.text)?.[1];
          expect(header, result.text).toBeDefined();
          const seen = JSON.parse(decodeURIComponent(header!.trim())) as Required<Seen>;
          const { headers, ...rest } = c.sees;
          expect(seen).toMatchObject(rest);
          for (const [name, value] of Object.entries(headers ?? {})) expect(seen.headers[name], name).toBe(value);
        }
        if (c.statuses === undefined) return;
        expect(result.statuses, result.text).toEqual(c.statuses);
        expect(result.closed, "the connection is closed").toBe(true);
      });
    }
  });
}
