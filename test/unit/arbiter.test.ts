import { UnicornError } from "../../src/errors.ts";
import { describe, expect, test } from "vitest";
import { Arbiter } from "../../src/arbiter/arbiter.ts";
import { MAX_UNBOOTED } from "../../src/arbiter/boot-failures.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { Logger } from "../../src/log/logger.ts";
import { FakeRuntime } from "../helpers/fake-runtime.ts";

async function started(args: string[] = []) {
  const runtime = new FakeRuntime();
  const { config } = resolveConfig(["app.ts", ...args], {});
  const lines: string[] = [];
  const log = new Logger({ level: "debug", sink: (line) => lines.push(line), pid: 1, now: () => new Date(0) });
  const arbiter = new Arbiter(runtime, config, log);
  await arbiter.start();
  await arbiter.manageWorkers();
  return { runtime, arbiter, lines };
}

describe("the arbiter", () => {
  test("spawns the configured number of workers with the listeners as fds", async () => {
    const { runtime, lines } = await started(["-w", "3"]);
    expect(runtime.spawned).toHaveLength(3);
    expect(runtime.spawned[0]!.spec.fds).toEqual([10]);
    const spec = JSON.parse(runtime.spawned[0]!.spec.env.UNICORN_WORKER!);
    expect(spec.listeners[0]).toMatchObject({ kind: "fd", fd: 3 });
    expect(lines.filter((l) => l.includes("Booting worker with pid"))).toHaveLength(3);
  });

  test("replaces a worker that dies and logs how it died", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "2"]);
    runtime.spawned[0]!.exit(null, "SIGKILL");
    await arbiter.tick();
    expect(lines.some((l) => l.includes("Worker (pid:1000) was sent SIGKILL! Perhaps out of memory?"))).toBe(true);
    // It died before booting: the replacement waits out the first backoff step.
    expect(lines.some((l) => l.includes("respawning in 0.25 s (crash 1 in a row)"))).toBe(true);
    expect(runtime.spawned).toHaveLength(2);
    runtime.now += 0.25;
    await arbiter.tick();
    expect(runtime.live).toHaveLength(2);
    expect(runtime.spawned).toHaveLength(3);
    runtime.spawned[1]!.exit(1);
    await arbiter.tick();
    expect(lines.some((l) => l.includes("Worker (pid:1001) exited with code 1"))).toBe(true);
    expect(lines.some((l) => l.includes("respawning in 0.50 s (crash 2 in a row)"))).toBe(true);
  });

  for (const [code, reason] of [[3, "a worker failed to boot"], [4, "the app failed to load"]] as const) {
    test(`a worker exiting ${code} halts the arbiter with code ${code} instead of respawning`, async () => {
      const { runtime, arbiter, lines } = await started(["-w", "2"]);
      runtime.spawned[0]!.exit(code);
      await arbiter.tick();
      expect(runtime.spawned).toHaveLength(2);
      expect(runtime.spawned[1]!.signals).toEqual(["SIGQUIT"]);
      expect(lines.some((l) => l.includes(`Shutting down: ${reason}`))).toBe(true);
      runtime.spawned[1]!.exit(0);
      await arbiter.tick();
      expect(arbiter.exitCode).toBe(code);
    });
  }

  test("TERM sends SIGTERM to every worker, waits, and exits 0 once they are gone", async () => {
    const { runtime, arbiter } = await started(["-w", "2"]);
    runtime.handlers.get("SIGTERM")!();
    await arbiter.tick();
    expect(runtime.spawned.map((w) => w.signals)).toEqual([["SIGTERM"], ["SIGTERM"]]);
    runtime.spawned[0]!.exit(0);
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(2);
    runtime.spawned[1]!.exit(0);
    await arbiter.tick();
    expect(arbiter.exitCode).toBe(0);
  });

  test("TERM sends SIGKILL to workers still alive after the graceful timeout", async () => {
    const { runtime, arbiter } = await started(["--graceful-timeout", "5"]);
    runtime.handlers.get("SIGTERM")!();
    await arbiter.tick();
    runtime.now += 4;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGTERM"]);
    runtime.now += 2;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGTERM", "SIGKILL"]);
  });

  test("INT during a graceful stop escalates to a quick stop", async () => {
    const { runtime, arbiter } = await started();
    runtime.handlers.get("SIGTERM")!();
    await arbiter.tick();
    runtime.handlers.get("SIGINT")!();
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGTERM", "SIGQUIT"]);
  });

  test("TTIN adds a worker and TTOU retires the oldest, never below one", async () => {
    const { runtime, arbiter } = await started(["-w", "2"]);
    runtime.handlers.get("SIGTTIN")!();
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(3);
    runtime.handlers.get("SIGTTOU")!();
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGTERM"]);
    runtime.spawned[0]!.exit(0);
    runtime.handlers.get("SIGTTOU")!();
    runtime.handlers.get("SIGTTOU")!();
    await arbiter.tick();
    expect(arbiter.numWorkers).toBe(1);
    expect(runtime.spawned[1]!.signals).toEqual(["SIGTERM"]);
    expect(runtime.spawned).toHaveLength(3);
  });

  test("a serving worker whose heartbeats stop for longer than --timeout is aborted, then killed", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "1", "--timeout", "10"]);
    const send = runtime.connect(runtime.spawned[0]!);
    send({ type: "booted" });
    runtime.now += 9;
    send({ type: "heartbeat", requests: 1, rss: 1 });
    await arbiter.tick();
    runtime.now += 9;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual([]);
    runtime.now += 2;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGABRT"]);
    expect(lines.some((l) => l.includes("[CRITICAL] WORKER TIMEOUT (pid:1000): no heartbeat for 10 s"))).toBe(true);
    runtime.now += 1;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGABRT", "SIGKILL"]);
  });

  test("after the arbiter itself stalled (SIGSTOP), heartbeats waiting unread do not get every worker killed", async () => {
    const { runtime, arbiter } = await started(["-w", "1", "--timeout", "5"]);
    const send = runtime.connect(runtime.spawned[0]!);
    send({ type: "booted" });
    await arbiter.tick();
    // Nothing ran for 60 s: the worker's heartbeats are still in the socket.
    runtime.now += 60;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual([]);
    send({ type: "heartbeat", requests: 0, rss: 1 });
    runtime.now += 1;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual([]);
  });

  test("a worker not serving --boot-timeout after it started is killed and replaced", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "2", "--timeout", "10"]);
    const beat = runtime.connect(runtime.spawned[1]!);
    beat({ type: "booted" });
    runtime.now += 8;
    beat({ type: "heartbeat", requests: 3, rss: 1 });
    runtime.now += 4;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGABRT"]);
    expect(runtime.spawned[1]!.signals).toEqual([]);
    expect(lines.some((l) => l.includes("[CRITICAL] WORKER TIMEOUT (pid:1000): not serving 10 s after start"))).toBe(true);
    runtime.now += 1;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGABRT", "SIGKILL"]);
    runtime.spawned[0]!.exit(null, "SIGKILL");
    await arbiter.tick();
    // A worker killed for a timeout counts as a crash: its replacement waits out the backoff.
    expect(runtime.spawned).toHaveLength(2);
    runtime.now += 0.25;
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(3);
    expect(runtime.live).toHaveLength(2);
  });

  test("a reuse-port listener on port 0 gets one port for every worker", async () => {
    const { runtime } = await started(["--reuse-port", "-b", "127.0.0.1:0", "-w", "2"]);
    const specs = runtime.spawned.map((w) => JSON.parse(w.spec.env.UNICORN_WORKER!));
    expect(specs.map((s) => s.listeners[0])).toEqual([
      expect.objectContaining({ kind: "reuse-port", port: 4242 }),
      expect.objectContaining({ kind: "reuse-port", port: 4242 }),
    ]);
    expect(runtime.spawned[0]!.spec.fds).toEqual([]);
  });

  test("HUP starts a new generation and retires each old worker only while enough new ones serve", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "2"]);
    const old = runtime.spawned.slice();
    for (const w of old) runtime.connect(w)({ type: "booted" });
    runtime.handlers.get("SIGHUP")!();
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(4);
    expect(old.map((w) => w.signals)).toEqual([[], []]);
    runtime.connect(runtime.spawned[2]!)({ type: "booted" });
    await arbiter.tick();
    expect(old.map((w) => w.signals)).toEqual([["SIGTERM"], []]);
    runtime.connect(runtime.spawned[3]!)({ type: "booted" });
    await arbiter.tick();
    expect(old.map((w) => w.signals)).toEqual([["SIGTERM"], ["SIGTERM"]]);
    expect(lines.some((l) => /Reload complete: 2 workers of generation 2 serving/.test(l))).toBe(true);
  });

  test("a reload whose new workers cannot boot keeps the old ones and does not halt", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "2"]);
    const old = runtime.spawned.slice();
    for (const w of old) runtime.connect(w)({ type: "booted" });
    runtime.handlers.get("SIGHUP")!();
    await arbiter.tick();
    runtime.spawned[2]!.exit(4);
    await arbiter.tick();
    expect(lines.some((l) => l.includes("Reload failed: the app failed to load (exit code 4)"))).toBe(true);
    expect(runtime.spawned[3]!.signals).toEqual(["SIGTERM"]);
    runtime.spawned[3]!.exit(4);
    await arbiter.tick();
    expect(arbiter.exitCode).toBeUndefined();
    expect(old.map((w) => w.signals)).toEqual([[], []]);
    expect(runtime.spawned).toHaveLength(4);
  });

  test("a worker at --max-requests is replaced, the replacement first", async () => {
    const { runtime, arbiter } = await started(["--max-requests", "10"]);
    const first = runtime.spawned[0]!;
    expect(JSON.parse(first.spec.env.UNICORN_WORKER!).maxRequests).toBe(10);
    const send = runtime.connect(first);
    send({ type: "booted" });
    send({ type: "recycle", requests: 10 });
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(2);
    expect(first.signals).toEqual([]);
    runtime.connect(runtime.spawned[1]!)({ type: "booted" });
    await arbiter.tick();
    expect(first.signals).toEqual(["SIGTERM"]);
  });

  test("a worker over --max-worker-memory is replaced", async () => {
    const { runtime, arbiter, lines } = await started(["--max-worker-memory", "100"]);
    const send = runtime.connect(runtime.spawned[0]!);
    send({ type: "booted" });
    send({ type: "heartbeat", requests: 1, rss: 50 * 1048576 });
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(1);
    send({ type: "heartbeat", requests: 2, rss: 150 * 1048576 });
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(2);
    expect(lines.some((l) => l.includes("uses 150 MiB, over --max-worker-memory"))).toBe(true);
  });

  test("USR2 starts a new arbiter with the listeners; WINCH then retires this one's workers, and only then", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "2"]);
    runtime.handlers.get("SIGWINCH")!();
    await arbiter.tick();
    expect(arbiter.numWorkers).toBe(2);
    runtime.handlers.get("SIGUSR2")!();
    await arbiter.tick();
    const successor = runtime.spawned[2]!;
    expect(successor.spec.role).toBe("arbiter");
    expect(successor.spec.fds).toEqual([10]);
    expect(successor.spec.env).toMatchObject({ UNICORN_PID: "1", UNICORN_FD: "3" });
    expect(lines.some((l) => l.includes(`started a new arbiter with pid: ${successor.pid}`))).toBe(true);
    runtime.handlers.get("SIGUSR2")!();
    await arbiter.tick();
    expect(runtime.spawned).toHaveLength(3);
    runtime.handlers.get("SIGWINCH")!();
    await arbiter.tick();
    expect(arbiter.numWorkers).toBe(0);
    expect(runtime.spawned.slice(0, 2).map((w) => w.signals)).toEqual([["SIGTERM"], ["SIGTERM"]]);
  });
});

describe("workers that never boot", () => {
  test(`${MAX_UNBOOTED} workers in a row exiting before they serve halt the arbiter with exit code 3`, async () => {
    const { runtime, arbiter, lines } = await started(["-w", "1"]);
    for (let i = 0; i < MAX_UNBOOTED; i++) {
      expect(arbiter.exitCode, `after ${i} exits`).toBeUndefined();
      expect(lines.some((l) => l.includes("Shutting down"))).toBe(false);
      runtime.live[0]!.exit(1);
      await arbiter.tick();
      // Past the crash backoff: the next one starts.
      runtime.now += 60;
      await arbiter.tick();
    }
    expect(lines.some((l) => l.includes(`Shutting down: ${MAX_UNBOOTED} workers in a row exited before they served (the last exited with code 1)`))).toBe(true);
    await arbiter.tick();
    expect(arbiter.exitCode).toBe(3);
  });

  test("a worker that serves in between starts the count again", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "1"]);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < MAX_UNBOOTED - 1; i++) {
        runtime.live[0]!.exit(1);
        await arbiter.tick();
        runtime.now += 60;
        await arbiter.tick();
      }
      runtime.connect(runtime.live[0]!)({ type: "booted" });
      runtime.live[0]!.exit(1);
      await arbiter.tick();
      runtime.now += 60;
      await arbiter.tick();
    }
    expect(lines.some((l) => l.includes("Shutting down"))).toBe(false);
    expect(arbiter.exitCode).toBeUndefined();
  });

  for (const [code, reason] of [[2, "a worker could not load its configuration"], [6, "a worker lacks a runtime permission"]] as const) {
    test(`a worker exiting ${code} before it booted halts the arbiter with code ${code}, saying why`, async () => {
      const { runtime, arbiter, lines } = await started(["-w", "1"]);
      runtime.connect(runtime.spawned[0]!)({ type: "failed", message: `the reason for ${code}` });
      runtime.spawned[0]!.exit(code);
      await arbiter.tick();
      expect(lines.some((l) => l.includes(`the reason for ${code}`))).toBe(true);
      expect(lines.some((l) => l.includes(`Shutting down: ${reason}`))).toBe(true);
      await arbiter.tick();
      expect(arbiter.exitCode).toBe(code);
    });
  }

  test("workers failing to load alike are reported once, from what they said", async () => {
    const { runtime, arbiter, lines } = await started(["-w", "3"]);
    const failure = 'Cannot import app "app.ts": Unexpected token (/app/app.ts:2:5)';
    for (const worker of runtime.spawned) {
      runtime.connect(worker)({ type: "failed", message: failure });
      worker.exit(4);
    }
    await arbiter.tick();
    expect(lines.filter((l) => l.includes(failure))).toHaveLength(1);
    expect(lines.some((l) => l.includes("Shutting down: the app failed to load"))).toBe(true);
    await arbiter.tick();
    expect(arbiter.exitCode).toBe(4);
  });
});

describe("started by npm", () => {
  async function underNpm() {
    const runtime = new FakeRuntime();
    runtime.environment = { npm_command: "exec", npm_lifecycle_event: "npx", npm_config_user_agent: "npm/11.19.1 node/v20" };
    runtime.ppid = 500;
    const lines: string[] = [];
    const log = new Logger({ level: "debug", sink: (line) => lines.push(line), pid: 1, now: () => new Date(0) });
    const arbiter = new Arbiter(runtime, resolveConfig(["app.ts"], {}).config, log);
    await arbiter.start();
    await arbiter.manageWorkers();
    return { runtime, arbiter, lines };
  }

  test("the launcher's exit stops the arbiter as TERM does, since npm does not pass TERM on", async () => {
    const { runtime, arbiter, lines } = await underNpm();
    expect(lines.some((l) => l.includes("Started by npm (parent pid:500)"))).toBe(true);
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual([]);
    runtime.ppid = 1;
    await arbiter.tick();
    expect(lines.some((l) => l.includes("The npm process that started unicorn (pid:500) exited"))).toBe(true);
    expect(runtime.spawned[0]!.signals).toEqual(["SIGTERM"]);
  });

  test("an arbiter not started by a package manager does not watch its parent", async () => {
    const { runtime, arbiter } = await started();
    runtime.ppid = 1;
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual([]);
  });
});

describe("control folders", () => {
  test("a starting arbiter removes the control folders of arbiters that are gone, and only those", async () => {
    const runtime = new FakeRuntime();
    runtime.temps.push(
      "/tmp/unicorn-4242-ns4026531836-abc",
      "/tmp/unicorn-77-ns4026531836-def",
      "/tmp/unicorn-1-ns4026531836-self",
      "/tmp/unicorn-xyz",
      // Another pid namespace's arbiter: pid 4242 here says nothing about it.
      "/tmp/unicorn-4242-ns4026532999-ghi",
      // No namespace in its name: not judged while this arbiter knows its own.
      "/tmp/unicorn-4242-jkl",
    );
    runtime.livePids = new Set([77, 1]);
    const log = new Logger({ level: "debug", sink: () => {}, pid: 1, now: () => new Date(0) });
    await new Arbiter(runtime, resolveConfig(["app.ts"], {}).config, log).start();
    expect(runtime.removed).toEqual(["/tmp/unicorn-4242-ns4026531836-abc"]);
  });

  test("a gone arbiter's folder it may not remove (another user's) is left, and the arbiter starts", async () => {
    const runtime = new FakeRuntime();
    runtime.temps.push("/tmp/unicorn-4242-ns4026531836-abc");
    runtime.livePids = new Set([1]);
    runtime.removePath = (path: string) => {
      throw Object.assign(new Error(`EACCES: permission denied, rmdir '${path}'`), { code: "EACCES" });
    };
    const lines: string[] = [];
    const log = new Logger({ level: "debug", sink: (line) => lines.push(line), pid: 1, now: () => new Date(0) });
    const arbiter = new Arbiter(runtime, resolveConfig(["app.ts"], {}).config, log);
    await arbiter.start();
    await arbiter.manageWorkers();
    expect(runtime.spawned.length).toBe(1);
    expect(lines.join("\n")).toMatch(/Left \/tmp\/unicorn-4242-ns4026531836-abc .*EACCES/);
  });

  test("a temp folder it cannot write in (a read-only container) is a one-line error with exit code 2", async () => {
    const runtime = new FakeRuntime();
    runtime.makeTempDir = (prefix: string) => {
      throw Object.assign(new Error(`EROFS: read-only file system, mkdtemp '/tmp/${prefix}XXXXXX'`), { code: "EROFS" });
    };
    const log = new Logger({ level: "debug", sink: () => {}, pid: 1, now: () => new Date(0) });
    const failure = await new Arbiter(runtime, resolveConfig(["app.ts"], {}).config, log).start().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnicornError);
    expect((failure as UnicornError).exitCode).toBe(2);
    expect((failure as UnicornError).message).toMatch(/^Cannot make unicorn's control folder in the temp folder \(EROFS: .*\): give it a writable temp folder \(TMPDIR/);
  });

  test("the control folder is named after the arbiter's pid", async () => {
    const { runtime } = await started();
    const spec = JSON.parse(runtime.spawned[0]!.spec.env.UNICORN_WORKER!);
    expect(spec.control).toMatch(/^\/tmp\/unicorn-1-ns4026531836-[^/]+\/control\.sock$/);
    expect(spec.arbiterPid).toBe(1);
  });
});

describe("a robust loop", () => {
  test("an unexpected error in the loop stops the workers, removes the pidfile and control folder, and exits 1", async () => {
    const runtime = new FakeRuntime();
    const log = new Logger({ level: "debug", sink: () => {}, pid: 1, now: () => new Date(0) });
    const arbiter = new Arbiter(runtime, resolveConfig(["app.ts", "-w", "2", "-p", "/tmp/u.pid"], {}).config, log);
    const running = arbiter.run();
    for (let i = 0; runtime.spawned.length < 2; i++) {
      expect(i, "the arbiter spawns its workers").toBeLessThan(1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(runtime.files.get("/tmp/u.pid")).toBe("1\n");
    // The next worker's exit makes the loop throw (a bug anywhere in it would do the same).
    runtime.monotonic = () => {
      throw new Error("the clock broke");
    };
    for (const worker of runtime.spawned) worker.kill = (signal) => {
      worker.signals.push(signal);
      worker.exit(null, signal);
    };
    runtime.spawned[0]!.exit(1);
    expect(await running).toBe(1);
    expect(runtime.spawned.map((w) => w.signals[0])).toEqual([undefined, "SIGQUIT"]);
    expect(runtime.removed).toContain("/tmp/unicorn-1-ns4026531836-fake");
    expect(runtime.files.has("/tmp/u.pid")).toBe(false);
  });
});

describe("unicorn ctl, through the control socket", () => {
  /** Sends one request to the arbiter's control socket and resolves with its reply. */
  function ask(runtime: FakeRuntime, request: object): Promise<{ ok: boolean; data?: unknown; error?: string }> {
    return new Promise((resolve) => {
      let listener: ((message: unknown) => void) | undefined;
      runtime.onCtl!({
        send: (reply) => resolve(reply as { ok: boolean }),
        end: () => Promise.resolve(),
        onMessage: (l) => (listener = l),
        onClose() {},
        close() {},
      });
      listener!({ v: 1, ...request });
    });
  }

  test("a socket named after the bound address; workers and stats from the heartbeats; a gone worker's counts kept", async () => {
    const { runtime, arbiter } = await started(["-w", "2", "-b", "127.0.0.1:8123"]);
    expect(runtime.ctlPath).toBe("/run/user/1000/unicorn/127.0.0.1-8123.ctl");
    const [a, b] = runtime.spawned;
    const sendA = runtime.connect(a!);
    const sendB = runtime.connect(b!);
    const stats = (requests: number) => ({
      requests,
      inFlight: 1,
      websockets: 2,
      busySeconds: 0.5,
      counts: Array.from({ length: 40 }, (_, i) => (i === 1 ? requests : 0)),
      buckets: Array.from({ length: 14 }, (_, i) => (i === 0 ? requests : 0)),
      durationSum: requests / 1000,
      refused: {},
      logFailures: 0,
    });
    sendA({ type: "booted" });
    sendB({ type: "booted" });
    sendA({ type: "heartbeat", requests: 7, rss: 1048576, stats: stats(7) });
    sendB({ type: "heartbeat", requests: 5, rss: 1048576, stats: stats(5) });
    const workers = await ask(runtime, { command: "workers" });
    expect(workers.ok).toBe(true);
    expect((workers.data as { workers: Array<{ pid: number; requests: number; inFlight: number }> }).workers)
      .toMatchObject([{ pid: a!.pid, requests: 7, inFlight: 1, websockets: 2 }, { pid: b!.pid, requests: 5, inFlight: 1, websockets: 2 }]);
    a!.exit(null, "SIGKILL");
    await arbiter.tick();
    const s = (await ask(runtime, { command: "stats" })).data as { requests: number; byStatus: Record<string, number>; restarts: Record<string, number> };
    expect(s.requests).toBe(12);
    expect(s.byStatus).toEqual({ "2xx": 12 });
    expect(s.restarts.crash).toBe(1);
    expect(((await ask(runtime, { command: "status" })).data as { workers: number }).workers).toBe(2);
  });

  test("scale and kill run in the loop; bad requests are refused with the reason", async () => {
    const { runtime, arbiter } = await started(["-w", "2"]);
    const scaled = ask(runtime, { command: "scale", args: { workers: 3 } });
    await arbiter.tick();
    expect((await scaled).data).toEqual({ workers: 3 });
    expect(runtime.live).toHaveLength(3);
    const killed = await ask(runtime, { command: "kill", args: { pid: runtime.spawned[0]!.pid } });
    expect(killed.ok).toBe(true);
    await arbiter.tick();
    expect(runtime.spawned[0]!.signals).toEqual(["SIGTERM"]);
    expect(await ask(runtime, { command: "kill", args: { pid: 99 } })).toMatchObject({ ok: false, error: 'no worker has pid 99 (see "unicorn ctl workers")' });
    expect(await ask(runtime, { command: "scale", args: { workers: 0 } })).toMatchObject({ ok: false, error: '"workers" must be a whole number of at least 1' });
    expect(await ask(runtime, { command: "nope" })).toMatchObject({ ok: false, error: 'unknown command "nope"' });
    expect(await ask(runtime, { v: 9, command: "status" })).toMatchObject({ ok: false });
  });

  test("reload answers once the new generation serves", async () => {
    const { runtime, arbiter } = await started(["-w", "1"]);
    runtime.connect(runtime.spawned[0]!)({ type: "booted" });
    const reloaded = ask(runtime, { command: "reload" });
    await arbiter.tick();
    const fresh = runtime.spawned[1]!;
    runtime.connect(fresh)({ type: "booted" });
    await arbiter.tick();
    expect((await reloaded).data).toMatchObject({ outcome: "complete", generation: 2, serving: 1 });
  });
});
