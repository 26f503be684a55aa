import { expect, test } from "vitest";
import { Readiness } from "../../src/arbiter/readiness.ts";
import { Logger } from "../../src/log/logger.ts";

test("READY=1 once all wanted workers serve, not during a reload, again after one; a failure to notify said once", () => {
  const sent: string[][] = [];
  const lines: string[] = [];
  let fail = false;
  const log = new Logger({ level: "debug", sink: (line) => lines.push(line), pid: 1, now: () => new Date(0) });
  const readiness = new Readiness((fields, onError) => (fail ? onError(new Error("no systemd-notify")) : sent.push([...fields])), log);
  readiness.check(1, 2, false);
  expect(sent).toEqual([]);
  readiness.check(2, 2, false);
  readiness.check(2, 2, false);
  expect(sent).toEqual([["READY=1", "STATUS=Serving with 2 workers"]]);
  readiness.reloading();
  readiness.check(4, 2, true);
  expect(sent.at(-1)).toEqual(["RELOADING=1", "STATUS=Reloading"]);
  readiness.check(2, 2, false);
  expect(sent.at(-1)).toEqual(["READY=1", "STATUS=Serving with 2 workers"]);
  fail = true;
  readiness.stopping(true);
  readiness.stopping(false);
  expect(lines.filter((l) => l.includes("Cannot notify systemd"))).toHaveLength(1);
});
