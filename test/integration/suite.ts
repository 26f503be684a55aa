/**
 * The behaviour suite, run once per runtime by `node.test.ts`, `bun.test.ts`
 * and `deno.test.ts`. Every test starts the real CLI on port 0 (or a temp unix
 * socket) and waits on log lines, never on sleeps.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { request, RawConnection } from "../helpers/http.ts";
import { MAX_UNBOOTED } from "../../src/arbiter/boot-failures.ts";
import { defaultEngineOnly, type Engine, engineArgs, label } from "./engine.ts";
import { alive, describeProcess, FIXTURES, killAll, ROOT, type RuntimeName, Server, waitGone, workersOf } from "../helpers/server.ts";

/** Runtimes whose arbiter can hand a socket to workers (see docs/listeners.md). */
const SHARED: readonly RuntimeName[] = ["node"];

function portOf(url: string): number {
  return Number(new URL(url).port);
}

export function behaviourSuite(runtime: RuntimeName, engine?: Engine): void {
  const name = label(runtime, engine);
  const start = (args: string[], options?: { env?: Record<string, string>; cwd?: string }) =>
    new Server(runtime, [...args, ...engineArgs(engine)], options);
  // With another engine, only what the engine serves runs again (requests, errors in the app, TERM's
  // drain, INT's cut); which addresses can be bound, where a worker is spawned, killed or orphaned,
  // and why a start fails, is the arbiter's and the app loader's work, the same whatever serves.
  const sharedOnly = defaultEngineOnly(engine, SHARED.includes(runtime) ? test : test.skip);
  const onlyNotShared = defaultEngineOnly(engine, SHARED.includes(runtime) ? test.skip : test);
  const anyEngineBlock = defaultEngineOnly(engine, describe);
  afterEach(killAll);

  describe(`${name}: serving`, () => {
    test("serves a request and shows the app a standard Request", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0"]);
      const url = await server.ready();
      const reply = await request(`${url}/echo?x=1`, { method: "POST", body: "hi", headers: { "x-test": "yes" } });
      expect(reply.status).toBe(200);
      const echo = JSON.parse(reply.body);
      expect(echo.method).toBe("POST");
      expect(echo.url).toBe(`${url}/echo?x=1`);
      expect(echo.headers["x-test"]).toBe("yes");
      expect(echo.remote).toMatch(/127\.0\.0\.1/);
      expect(server.log).toMatch(new RegExp(`Starting unicorn \\S+ on ${runtime} \\d`));
      expect(server.log).toMatch(/Listener strategy: (shared|reuse-port)/);
    });

    test("serves a Hono app, a factory export and a plain function export", async () => {
      const hono = start(["hono-app.ts", "-b", "127.0.0.1:0"]);
      const factory = start(["factory.ts:create()", "-b", "127.0.0.1:0"]);
      const fn = start(["factory.ts:handler", "-b", "127.0.0.1:0"]);
      const [h, f, p] = await Promise.all([hono.ready(), factory.ready(), fn.ready()]);
      expect((await request(`${h}/json/ada`)).body).toBe('{"name":"ada"}');
      expect((await request(f!)).body).toBe("made by a factory");
      expect((await request(p!)).body).toBe("plain function");
    });

    test("spreads requests over the workers", async () => {
      const server = start(["app.ts", "-w", "2", "-b", "127.0.0.1:0"]);
      const url = await server.ready(2);
      const seen = new Set<string>();
      for (let i = 0; i < 200 && seen.size < 2; i++) {
        const batch = await Promise.all(Array.from({ length: 8 }, () => request(`${url}/pid`)));
        for (const reply of batch) seen.add(reply.body);
      }
      expect([...seen].sort()).toEqual(server.workerPids().map(String).sort());
    });

    test("binds IPv6 [::1] on port 0", async () => {
      const server = start(["app.ts", "-b", "[::1]:0"]);
      const url = await server.ready();
      expect(url).toMatch(/^http:\/\/\[::1\]:\d+$/);
      expect(portOf(url)).toBeGreaterThan(0);
      expect((await request(`${url}/`)).body).toBe("hello\n");
    });

    test("listens on several addresses at once", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-b", "[::1]:0"]);
      await server.ready();
      const urls = server.lines.flatMap((l) => /Listening at: (\S+)/.exec(l)?.[1] ?? []);
      expect(urls).toHaveLength(2);
      for (const url of urls) expect((await request(`${url}/`)).status).toBe(200);
    });

    sharedOnly("binds a unix socket", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-test-"));
      const socketPath = path.join(dir, "app.sock");
      const server = start(["app.ts", "-b", `unix:${socketPath}`, "-w", "2"]);
      await server.ready(2);
      const reply = await request("http://localhost/echo", { socketPath });
      expect(reply.status).toBe(200);
      server.signal("SIGTERM");
      expect((await server.exited()).code).toBe(0);
      expect(fs.existsSync(socketPath)).toBe(false);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    onlyNotShared(`refuses a unix socket with exit code 2, since a ${runtime} arbiter cannot share sockets`, async () => {
      const server = start(["app.ts", "-b", "unix:/tmp/unicorn-never.sock"]);
      expect((await server.exited()).code).toBe(2);
      expect(server.log).toMatch(/Cannot bind "unix:\/tmp\/unicorn-never.sock" on \w+: /);
    });

    test("streams a request body to the app", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0"]);
      const url = await server.ready();
      const chunk = new Uint8Array(64 * 1024).map((_, i) => i % 251);
      async function* body() {
        for (let i = 0; i < 32; i++) yield chunk;
      }
      const reply = await request(`${url}/upload`, { method: "POST", body: body() });
      const expected = Array.from({ length: 32 }).reduce<number>(
        (sum) => chunk.reduce((s, b) => (s + b) % 65521, sum),
        0,
      );
      expect(JSON.parse(reply.body)).toEqual({ bytes: 32 * chunk.length, sum: expected });
    });

    test("streams a response: the first chunk arrives before the body ends", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0"]);
      const url = await server.ready();
      const response = await fetch(`${url}/stream`);
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("first chunk\n");
      expect((await request(`${url}/release`)).body).toBe("released");
      let rest = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
      expect(rest).toBe("second chunk\n");
    });
  });

  describe(`${name}: errors in the app`, () => {
    test("a throw, a rejection or a non-Response answers 500 without leaking, and the worker keeps serving", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0"]);
      const url = await server.ready();
      const before = (await request(`${url}/pid`)).body;
      for (const route of ["/throw", "/reject", "/not-a-response"]) {
        const reply = await request(`${url}${route}`);
        expect(reply.status).toBe(500);
        expect(reply.body).toBe("Internal Server Error\n");
      }
      expect((await request(`${url}/pid`)).body).toBe(before);
      await server.waitFor(/\[ERROR\] Error handling request GET \/throw: Error: secret detail/);
      await server.waitFor(/\[ERROR\] Error handling request GET \/reject: Error: rejected secret/);
    });
  });

  anyEngineBlock(`${name}: supervision`, () => {
    test("a worker killed with SIGKILL is logged and replaced", async () => {
      const server = start(["app.ts", "-w", "2", "-b", "127.0.0.1:0"]);
      const url = await server.ready(2);
      const [victim] = server.workerPids();
      process.kill(victim!, "SIGKILL");
      await server.waitFor(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL! Perhaps out of memory\\?`));
      await server.waitForCount(/Booting worker with pid/, 3);
      await server.waitForCount(/is serving/, 3);
      expect(server.workerPids()).toHaveLength(3);
      const pids = new Set<string>();
      for (let i = 0; i < 100 && pids.size < 2; i++) pids.add((await request(`${url}/pid`)).body);
      expect(pids.has(String(victim))).toBe(false);
    });

    test("the workers exit by themselves when the arbiter is killed with SIGKILL", async () => {
      const server = start(["app.ts", "-w", "2", "-b", "127.0.0.1:0"]);
      await server.ready(2);
      const workers = server.workerPids();
      expect(workers.every(alive)).toBe(true);
      server.signal("SIGKILL");
      await server.exited();
      const left = await waitGone(workers, 2_000);
      expect(left.map(describeProcess), server.log).toEqual([]);
    });
  });

  anyEngineBlock(`${name}: orphans`, () => {
    test("no worker outlives an arbiter SIGKILLed at a random moment: booting, serving or draining", async () => {
      const trials = 10;
      let orphans = 0;
      for (let trial = 0; trial < trials; trial++) {
        const server = start(["app.ts", "-w", "3", "-b", "127.0.0.1:0"]);
        const moment = trial % 3;
        if (moment === 0) {
          // Booting: somewhere between the first spawn and the workers serving.
          await server.waitFor(/Booting worker with pid/);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 300));
        } else {
          const url = await server.ready(moment === 1 ? 1 : 3);
          if (moment === 2) {
            void request(`${url}/slow?ms=3000`).catch(() => {});
            await server.waitFor(/fixture: slow request started/);
            server.signal("SIGTERM");
            await server.waitFor(/Handling signal: term/);
          }
        }
        const workers = new Set([...workersOf(server.pid), ...server.workerPids()]);
        server.signal("SIGKILL");
        await server.exited();
        const left = await waitGone([...workers, ...workersOf(server.pid)], 3_000);
        orphans += left.length;
        // The workers that outlived it by a moment removed the control folder it could not remove.
        const folders = fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(`unicorn-${server.pid}-`));
        expect(folders, `trial ${trial}`).toEqual([]);
        expect(left.map(describeProcess), `trial ${trial} (${["booting", "serving", "draining"][moment]}):\n${server.log}`).toEqual([]);
      }
      expect(orphans).toBe(0);
    });
  });

  describe(`${name}: signals`, () => {
    test("TERM lets an in-flight request finish, then exits 0", async () => {
      const server = start(["app.ts", "-w", "2", "-b", "127.0.0.1:0"]);
      const url = await server.ready(2);
      const slow = request(`${url}/slow?ms=1500`);
      await server.waitFor(/fixture: slow request started/);
      server.signal("SIGTERM");
      await server.waitFor(/Handling signal: term/);
      const reply = await slow;
      expect(reply.status).toBe(200);
      expect(reply.body).toBe("slow done after 1500 ms");
      expect((await server.exited()).code).toBe(0);
      expect(await waitGone(server.workerPids())).toEqual([]);
    });

    test("TERM closes idle keep-alive connections and ends in-flight ones with Connection: close", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0"]);
      const url = await server.ready();
      const idle = new RawConnection(portOf(url));
      await idle.connected();
      idle.send("/");
      expect((await idle.read()).status).toBe(200);
      const busy = new RawConnection(portOf(url));
      await busy.connected();
      busy.send("/slow?ms=1000");
      await server.waitFor(/fixture: slow request started/);
      server.signal("SIGTERM");
      await server.waitFor(/Handling signal: term/);
      await idle.closed;
      const reply = await busy.read();
      expect(reply.body).toBe("slow done after 1000 ms");
      expect(reply.headers.connection).toBe("close");
      await busy.closed;
      expect((await server.exited()).code).toBe(0);
    });

    test("TERM kills a request that outlives --graceful-timeout", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "--graceful-timeout", "1"]);
      const url = await server.ready();
      const slow = request(`${url}/slow?ms=30000`).then(() => "answered", () => "cut off");
      await server.waitFor(/fixture: slow request started/);
      server.signal("SIGTERM");
      // The worker gives up on its connections at the deadline, or the arbiter kills it.
      await server.waitFor(/Connections still open after 1 s; exiting|did not stop in time; sending SIGKILL/);
      expect(await slow).toBe("cut off");
      expect((await server.exited()).code).toBe(0);
    });

    for (const signal of ["SIGINT", "SIGQUIT"] as const) {
      test(`${signal} stops at once, cutting in-flight requests`, async () => {
        const server = start(["app.ts", "-w", "2", "-b", "127.0.0.1:0"]);
        const url = await server.ready(2);
        const slow = request(`${url}/slow?ms=30000`).then(() => "answered", () => "cut off");
        await server.waitFor(/fixture: slow request started/);
        server.signal(signal);
        expect((await server.exited(5_000)).code).toBe(0);
        expect(await slow).toBe("cut off");
        expect(await waitGone(server.workerPids())).toEqual([]);
      });
    }
  });

  anyEngineBlock(`${name}: exit codes`, () => {
    test("a bad flag exits 2 with one line that names it and points to --help", async () => {
      const server = start(["app.ts", "--workers", "many"]);
      expect((await server.exited()).code).toBe(2);
      expect(server.lines).toEqual([
        'unicorn: Invalid value for "--workers": expected a whole number of at least 1 (got "many"). ' +
        'Run "unicorn --help" for usage.',
      ]);
    });

    test("an unknown flag and a missing APP exit 2", async () => {
      const unknown = start(["app.ts", "--frobnicate"]);
      const missing = start(["-w", "2"]);
      expect((await unknown.exited()).code).toBe(2);
      expect((await missing.exited()).code).toBe(2);
      expect(unknown.log).toMatch(/Unknown option "--frobnicate"/);
      expect(missing.log).toMatch(/Missing APP/);
    });

    test("a factory that throws halts the arbiter with exit code 3", async () => {
      const server = start(["factory.ts:broken()", "-w", "2", "-b", "127.0.0.1:0"]);
      expect((await server.exited()).code).toBe(3);
      expect(server.log).toMatch(/the factory threw: the database is unreachable/);
      expect(server.log).toMatch(/Shutting down: a worker failed to boot/);
      expect(await waitGone(server.workerPids())).toEqual([]);
    });

    test("an app that cannot be imported exits 4, saying once where: file, line, column and the source line", async () => {
      const server = start(["syntax-error.ts", "-w", "3", "-b", "127.0.0.1:0"]);
      expect((await server.exited()).code).toBe(4);
      const reports = server.lines.filter((l) => l.includes('Cannot import app "syntax-error.ts"'));
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatch(new RegExp(`\\(${FIXTURES.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/syntax-error\\.ts:2:\\d+\\)$`));
      expect(server.log).toContain("    2 | export default {{ fetch( };");
      expect(server.log).toMatch(/^\s+\| +\^$/m);
    });

    test(`workers that exit before they serve, ${MAX_UNBOOTED} in a row, halt the arbiter with exit code 3`, async () => {
      const server = start(["exits-at-import.ts", "-w", "2", "-b", "127.0.0.1:0"]);
      expect((await server.exited(30_000)).code).toBe(3);
      expect(server.log).toMatch(new RegExp(`Shutting down: ${MAX_UNBOOTED} workers in a row exited before they served \\(the last exited with code 7\\)`));
      expect(server.workerPids().length).toBeGreaterThanOrEqual(MAX_UNBOOTED);
      expect(await waitGone(server.workerPids())).toEqual([]);
    });

    test("an export that is not a Fetch handler exits 4 and says what was found", async () => {
      const missingFile = start(["no-such-file.ts", "-b", "127.0.0.1:0"]);
      const wrongShape = start(["not-an-app.ts", "-b", "127.0.0.1:0"]);
      const wrongName = start(["app.ts:nope", "-b", "127.0.0.1:0"]);
      expect((await missingFile.exited()).code).toBe(4);
      expect((await wrongShape.exited()).code).toBe(4);
      expect((await wrongName.exited()).code).toBe(4);
      expect(missingFile.log).toMatch(/Cannot load app "no-such-file.ts": no file at/);
      expect(wrongShape.log).toMatch(/Cannot load app "not-an-app\.ts": "default": it is an object with keys port; expected a Fetch handler/);
      expect(wrongName.log).toMatch(/the module has no export "nope" \(it exports default\)/);
    });

    const denoOnly = runtime === "deno" ? test : test.skip;
    denoOnly(`a missing runtime permission exits 6 naming it${runtime === "deno" ? "" : ` (skipped: ${runtime} has no permissions)`}`, async () => {
      const { execFile } = await import("node:child_process");
      const deno = path.join(ROOT, "node_modules/.bin/deno");
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
        execFile(deno, ["run", "--allow-env", "--allow-read", path.join(ROOT, "mod.ts"), "app.ts", "-b", "127.0.0.1:0"], {
          cwd: path.join(ROOT, "test/fixtures"),
          env: { ...process.env, NO_COLOR: "1" },
        }, (error, _stdout, stderr) => resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stderr }))
      );
      expect(result.code).toBe(6);
      expect(result.stderr).toMatch(/Missing a runtime permission: Requires net access to "127\.0\.0\.1:0": run with -A/);
    });

    test("an address in use exits 5 with Cannot bind", async () => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
      const port = (blocker.address() as net.AddressInfo).port;
      try {
        const server = start(["app.ts", "-b", `127.0.0.1:${port}`]);
        expect((await server.exited()).code).toBe(5);
        expect(server.log).toContain(`Cannot bind "127.0.0.1:${port}": address already in use`);
      } finally {
        blocker.close();
      }
    });
  });
}
