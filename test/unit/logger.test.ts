import { expect, test } from "vitest";
import { Logger } from "../../src/log/logger.ts";

test("lines follow Gunicorn's format and respect the level", () => {
  const lines: string[] = [];
  const log = new Logger({ level: "info", sink: (l) => lines.push(l), pid: 42, now: () => new Date(2026, 10, 26, 10, 0, 5) });
  log.debug("hidden");
  log.info("Booting worker with pid: 7");
  log.critical("WORKER TIMEOUT (pid:7)");
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^\[2026-11-26 10:00:05 [+-]\d{4}\] \[42\] \[INFO\] Booting worker with pid: 7$/);
  expect(lines[1]).toMatch(/\[CRITICAL\] WORKER TIMEOUT \(pid:7\)$/);
});

test("a failing write is counted, never thrown", () => {
  const log = new Logger({ level: "debug", sink: () => { throw new Error("ENOSPC"); }, pid: 1 });
  expect(() => log.error("disk full")).not.toThrow();
  expect(log.failedWrites).toBe(1);
});
