import { describe, expect, test } from "vitest";
import { WorkerHandle } from "../../src/arbiter/worker-handle.ts";
import type { SignalName, WorkerProcess } from "../../src/runtime.ts";

function handle(now = 100) {
  const signals: SignalName[] = [];
  const child: WorkerProcess = { pid: 7, kill: (signal) => void signals.push(signal), onExit() {} };
  return { worker: new WorkerHandle(1, 1, child, now), signals };
}
const deadlines = { timeout: 30, bootTimeout: 10, retire: 35, abortGrace: 1 };

describe("a worker's life as the arbiter tracks it", () => {
  test("booting, then serving; a retiring worker stays retiring when it reports booted", () => {
    const { worker, signals } = handle();
    worker.booted(101);
    expect(worker.state).toBe("serving");
    expect(worker.retire(102)).toBe(true);
    expect(worker.retire(103)).toBe(false);
    worker.booted(104);
    expect(worker.state).toBe("retiring");
    expect(signals).toEqual(["SIGTERM"]);
  });

  test("a booting worker is overdue after --boot-timeout, a serving one after --timeout without a heartbeat", () => {
    const { worker } = handle(100);
    expect(worker.overdue(110, deadlines)).toBeUndefined();
    expect(worker.overdue(110.5, deadlines)).toEqual({ action: "abort", why: "boot", limit: 10 });
    worker.booted(105);
    worker.beat(120, 3, 1024);
    expect(worker.requests).toBe(3);
    expect(worker.overdue(150, deadlines)).toBeUndefined();
    expect(worker.overdue(150.5, deadlines)).toEqual({ action: "abort", why: "heartbeat", limit: 30 });
  });

  test("an aborted worker is killed after the grace, a retired one after the retire deadline, a killed one never again", () => {
    const aborted = handle();
    aborted.worker.abort(200);
    expect(aborted.worker.overdue(200.5, deadlines)).toBeUndefined();
    expect(aborted.worker.overdue(201, deadlines)).toEqual({ action: "kill", why: "aborted" });
    aborted.worker.kill(201);
    expect(aborted.worker.overdue(500, deadlines)).toBeUndefined();
    expect(aborted.signals).toEqual(["SIGABRT", "SIGKILL"]);
    const retired = handle();
    retired.worker.retire(200);
    expect(retired.worker.overdue(235, deadlines)).toBeUndefined();
    expect(retired.worker.overdue(235.5, deadlines)).toEqual({ action: "kill", why: "retired" });
  });

  test("no timeout at 0, and a worker is marked for replacement once", () => {
    const { worker } = handle(0);
    expect(worker.overdue(10_000, { ...deadlines, timeout: 0, bootTimeout: 0 })).toBeUndefined();
    expect(worker.markForReplacement("memory")).toBe(true);
    expect(worker.markForReplacement("max-requests")).toBe(false);
    expect(worker.replace).toBe("memory");
  });
});
