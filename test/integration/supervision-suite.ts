/** Supervision: hung workers, reloads, scaling, recycling, crash loops, logs and pidfiles; once per runtime. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { request } from "../helpers/http.ts";
import { Load, type LoadResult } from "../helpers/load.ts";
import { defaultEngineOnly, type Engine, engineArgs, label } from "./engine.ts";
import { FIXTURES, killAll, type RuntimeName, Server, waitGone } from "../helpers/server.ts";

/** Runtimes whose workers bind their own SO_REUSEPORT sockets. */
const REUSE_PORT: readonly RuntimeName[] = ["bun", "deno"];
const MIGRATES = fs.existsSync("/proc/sys/net/ipv4/tcp_migrate_req") &&
  fs.readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim() === "1";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-test-"));
}

/** Waits, with a deadline, until `file` exists and holds text matching `pattern`. */
async function fileMatches(file: string, pattern: RegExp, timeout = 10_000): Promise<string> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${pattern} in ${file}:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function supervisionSuite(runtime: RuntimeName, engine?: Engine): void {
  const name = label(runtime, engine);
  const start = (args: string[], options?: { env?: Record<string, string>; cwd?: string }) =>
    new Server(runtime, [...args, ...engineArgs(engine)], options);
  // Zero loss on reload needs the kernel to migrate connections queued on a closing SO_REUSEPORT socket.
  const zeroLoss = !REUSE_PORT.includes(runtime) || MIGRATES ? test : test.skip;
  const zeroLossName = (REUSE_PORT.includes(runtime) ? " (reuse-port: needs net.ipv4.tcp_migrate_req=1)" : "") +
    (runtime === "deno" && engine === "native" ? " (Deno.serve: a handful at most, its stop resets what it accepted in its last instant)" : "");

  // With another engine, only what the engine takes part in runs again: --request-timeout's 503, a HUP
  // under load (the old workers' drain, the new ones binding beside them), --max-requests (counted
  // per request, then a drain) and the access log. Heartbeats, boot deadlines, crash backoff, scaling,
  // USR2 (the same drain as HUP's), readiness, --reload, pidfiles, USR1 and privileges are the
  // arbiter's and the worker's own, the same whatever serves the requests.
  const anyEngine = defaultEngineOnly(engine);
  const anyEngineBlock = defaultEngineOnly(engine, describe);
  afterEach(killAll);

  /** Zero failed requests; on Deno.serve a handful at most (see the runtime table in README). */
  const expectNoLoss = (result: LoadResult) => {
    if (runtime === "deno" && engine === "native") {
      // Deno.serve's shutdown can reset a connection it accepted in its last instant, before reading its
      // request; queued connections are never lost (they migrate).
      expect(result.failed).toBeLessThanOrEqual(Math.max(3, result.ok / 1000));
      return;
    }
    expect(result.errors).toEqual([]);
    expect(result.failed).toBe(0);
  };

  describe(`${name}: hung and slow workers`, () => {
    anyEngine("a worker whose event loop blocks is aborted after --timeout, killed a second later, and replaced (within --timeout + 3 s: a tick to notice, the grace, a tick to kill)", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-t", "1", "--boot-timeout", "30"]).allow(/WORKER TIMEOUT/);
      const url = await server.ready();
      const [victim] = server.workerPids();
      void request(`${url}/block`).catch(() => {});
      await server.waitFor(/fixture: blocking the event loop/);
      const blockedAt = Date.now();
      await server.waitFor(new RegExp(`WORKER TIMEOUT \\(pid:${victim}\\): no heartbeat for 1 s`));
      await server.waitFor(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL`));
      expect(Date.now() - blockedAt).toBeLessThan(3_000 + 1_000);
      await server.waitForCount(/is serving/, 2);
      expect((await request(`${url}/pid`)).body).not.toBe(String(victim));
    });

    anyEngine("--boot-timeout kills a worker that is still loading the app", async () => {
      const server = start(["slow-boot.ts", "-b", "127.0.0.1:0", "--boot-timeout", "1"]).allow(/WORKER TIMEOUT/);
      const [, pid] = await server.waitFor(/WORKER TIMEOUT \(pid:(\d+)\): not serving 1 s after start/);
      // The worker runs its SIGABRT handler (its loop is free) and exits 1, or is killed after a grace.
      await server.waitFor(new RegExp(`Worker \\(pid:${pid}\\) (exited with code 1|was sent SIGKILL)`));
      await server.waitFor(/respawning in 0\.25 s \(crash 1 in a row\)/);
    });

    test("--request-timeout answers 503 and the worker keeps serving", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "--request-timeout", "1"]);
      const url = await server.ready();
      const before = (await request(`${url}/pid`)).body;
      const slow = await request(`${url}/slow?ms=5000`);
      expect(slow.status).toBe(503);
      await server.waitFor(/Request timed out after 1 s: GET \/slow/);
      expect((await request(`${url}/pid`)).body).toBe(before);
    });
  });

  describe(`${name}: reload and scaling`, () => {
    zeroLoss(`HUP under continuous load starts new workers and fails no request${zeroLossName}`, async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-w", "2"]);
      const url = await server.ready(2);
      const old = server.workerPids();
      const load = new Load(url, { keepAlive: 4, fresh: 2 });
      await load.answered(200);
      server.signal("SIGHUP");
      await server.waitFor(/Reload complete: 2 workers of generation 2 serving, \d+ ms after HUP/);
      const seen = load.result.ok;
      await load.answered(seen + 200);
      const result = await load.stop();
      expectNoLoss(result);
      const fresh = server.workerPids().filter((pid) => !old.includes(pid));
      expect(fresh).toHaveLength(2);
      expect(await waitGone(old)).toEqual([]);
      const pids = new Set<string>();
      for (let i = 0; i < 50 && pids.size < 2; i++) pids.add((await request(`${url}/pid`)).body);
      expect([...pids].map(Number).every((pid) => fresh.includes(pid))).toBe(true);
    });

    anyEngine("HUP with a broken app keeps the old workers serving", async () => {
      const dir = tempDir();
      const config = path.join(dir, "unicorn.config.json");
      fs.writeFileSync(config, JSON.stringify({ app: path.join(FIXTURES, "app.ts") }));
      const server = start(["-c", config, "-b", "127.0.0.1:0", "-w", "2"]);
      const url = await server.ready(2);
      const old = server.workerPids();
      fs.writeFileSync(config, JSON.stringify({ app: path.join(FIXTURES, "syntax-error.ts") }));
      server.signal("SIGHUP");
      await server.waitFor(/Reload failed: the app failed to load \(exit code 4\); the previous workers keep serving/);
      const pids = new Set<string>();
      for (let i = 0; i < 50 && pids.size < 2; i++) pids.add((await request(`${url}/pid`)).body);
      expect([...pids].map(Number).sort()).toEqual([...old].sort());
      expect(server.child.exitCode).toBe(null);
    });

    anyEngine("TTIN adds a worker and TTOU retires the oldest", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-w", "2"]);
      await server.ready(2);
      const [oldest] = server.workerPids();
      server.signal("SIGTTIN");
      await server.waitFor(/Handling signal: ttin; workers: 3/);
      await server.waitForCount(/is serving/, 3);
      server.signal("SIGTTOU");
      await server.waitFor(/Handling signal: ttou; workers: 2/);
      await server.waitFor(new RegExp(`Worker \\(pid:${oldest}\\) exited`));
      // Signals of one kind sent before the first is handled merge into one: wait between them.
      server.signal("SIGTTOU");
      await server.waitFor(/Handling signal: ttou; workers: 1/);
      server.signal("SIGTTOU");
      await server.waitFor(/already at 1 worker/);
      expect(server.workerPids()).toHaveLength(3);
    });

    test("--max-requests replaces a worker without failing a request", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "--max-requests", "50"]);
      const url = await server.ready();
      const [first] = server.workerPids();
      const load = new Load(url, { keepAlive: 2, fresh: 1, maxRequests: 400 });
      await server.waitFor(new RegExp(`Worker \\(pid:${first}\\) served 50 requests \\(--max-requests\\); starting its replacement`));
      await server.waitFor(new RegExp(`Worker \\(pid:${first}\\) exited`));
      const result = await load.stop();
      expectNoLoss(result);
      expect(server.workerPids().length).toBeGreaterThanOrEqual(2);
    });

    anyEngine("a worker that keeps crashing after boot is respawned with growing delays", async () => {
      const server = start(["crash-after-boot.ts", "-b", "127.0.0.1:0"]);
      await server.waitFor(/respawning in 0\.25 s \(crash 1 in a row\)/);
      await server.waitFor(/respawning in 0\.50 s \(crash 2 in a row\)/);
      await server.waitFor(/respawning in 1\.00 s \(crash 3 in a row\)/);
      expect(server.workerPids().length).toBeLessThanOrEqual(4);
    });
  });

  anyEngineBlock(`${name}: binary upgrade and socket activation`, () => {
    zeroLoss(`USR2 starts a new arbiter on the same sockets, and TERM to the old one fails no request${zeroLossName}`, async () => {
      const pidfile = path.join(tempDir(), "unicorn.pid");
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-w", "2", "-p", pidfile]);
      const url = await server.ready(2);
      const load = new Load(url, { keepAlive: 4, fresh: 2 });
      await load.answered(100);
      server.signal("SIGUSR2");
      const [, successor] = await server.waitFor(/started a new arbiter with pid: (\d+)/);
      server.extraPids.push(Number(successor));
      await server.waitFor(new RegExp(`\\[${successor}\\] \\[INFO\\] Using the listeners inherited from the old arbiter`));
      await server.waitForCount(/is serving/, 4);
      expect(fs.readFileSync(`${pidfile}.2`, "utf8")).toBe(`${successor}\n`);
      server.signal("SIGTERM");
      expect((await server.exited()).code).toBe(0);
      await server.waitFor(new RegExp(`\\[${successor}\\] \\[INFO\\] Promoted: the old arbiter \\(pid:${server.pid}\\) is gone`));
      expect(fs.readFileSync(pidfile, "utf8")).toBe(`${successor}\n`);
      expect(fs.existsSync(`${pidfile}.2`)).toBe(false);
      const seen = load.result.ok;
      await load.answered(seen + 100);
      const result = await load.stop();
      expectNoLoss(result);
      process.kill(Number(successor), "SIGTERM");
    });

    const activate = fs.existsSync("/usr/bin/systemd-socket-activate") && !REUSE_PORT.includes(runtime) ? test : test.skip;
    const why = REUSE_PORT.includes(runtime)
      ? " (skipped: Bun and Deno workers cannot serve an inherited descriptor)"
      : " (needs systemd-socket-activate)";
    activate(`systemd socket activation: serves the sockets in LISTEN_FDS instead of binding${why}`, async () => {
      const probe = (await import("node:net")).createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      const port = (probe.address() as { port: number }).port;
      await new Promise((resolve) => probe.close(resolve));
      const server = new Server(runtime, ["app.ts", "-w", "2", ...engineArgs(engine)], {
        wrap: ["/usr/bin/systemd-socket-activate", "-l", `127.0.0.1:${port}`],
      });
      await server.waitFor(/Listening on 127\.0\.0\.1:\d+ as 3/);
      // systemd-socket-activate starts the service on the first connection, which waits in the backlog.
      const first = request(`http://127.0.0.1:${port}/`);
      await server.waitFor(/Using the listeners inherited from systemd \(LISTEN_FDS\)/);
      expect((await first).body).toBe("hello\n");
      await server.waitForCount(/is serving/, 2);
      expect((await request(`http://127.0.0.1:${port}/pid`)).status).toBe(200);
      server.signal("SIGTERM");
      expect((await server.exited()).code).toBe(0);
    });
  });

  anyEngineBlock(`${name}: systemd readiness`, () => {
    const tools = ["/usr/bin/systemd-notify", "/usr/bin/python3"].every((f) => fs.existsSync(f)) ? test : test.skip;
    tools("READY=1 once the workers serve, RELOADING=1 then READY=1 on HUP, STOPPING=1 on TERM, from the arbiter's pid (needs systemd-notify and python3)", async () => {
      const socketPath = path.join(tempDir(), "notify.sock");
      const { spawn } = await import("node:child_process");
      const receiver = spawn("/usr/bin/python3", [path.join(FIXTURES, "notify-receiver.py"), socketPath]);
      const messages: string[] = [];
      let waiting: (() => void) | undefined;
      receiver.stdout.setEncoding("utf8");
      receiver.stdout.on("data", (chunk: string) => {
        messages.push(...chunk.trim().split("\n"));
        waiting?.();
      });
      const seen = async (pattern: RegExp, count = 1) => {
        const deadline = Date.now() + 10_000;
        while (messages.filter((m) => pattern.test(m)).length < count) {
          if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${messages.join("\n")}`);
          await new Promise<void>((resolve) => {
            waiting = resolve;
            setTimeout(resolve, 200);
          });
        }
      };
      try {
        await seen(/listening/);
        const server = start(["app.ts", "-b", "127.0.0.1:0", "-w", "2"], { env: { NOTIFY_SOCKET: socketPath } });
        await server.ready(2);
        await seen(new RegExp(`pid=${server.pid} READY=1 \\| STATUS=Serving with 2 workers`));
        server.signal("SIGHUP");
        await seen(/RELOADING=1 \| STATUS=Reloading \| MONOTONIC_USEC=\d+/);
        await server.waitFor(/Reload complete/);
        await seen(/READY=1/, 2);
        server.signal("SIGTERM");
        expect((await server.exited()).code).toBe(0);
        await seen(new RegExp(`pid=${server.pid} STOPPING=1`));
        const states = messages.flatMap((m) => /(READY|RELOADING|STOPPING)=1/.exec(m)?.[0] ?? []);
        expect(states).toEqual(["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
      } finally {
        receiver.kill();
      }
    });
  });

  anyEngineBlock(`${name}: development reload`, () => {
    test("--reload restarts the workers when a source file changes, and they serve the new code", async () => {
      const dir = tempDir();
      const app = path.join(dir, "app.ts");
      const version = (v: string) => `export default { fetch: () => new Response("${v}") };\n`;
      fs.writeFileSync(app, version("v1"));
      // Outside a "type": "module" package, tsx on Node 20 loads a .ts file as CommonJS.
      fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
      const server = start([app, "-b", "127.0.0.1:0", "--reload"], { cwd: dir });
      const url = await server.ready();
      await server.waitFor(/Watching .* for changes \(--reload\)/);
      expect((await request(url)).body).toBe("v1");
      // Bun's watcher can miss a change made in the first moments after it starts: write until one is seen.
      for (let attempt = 0; ; attempt++) {
        fs.writeFileSync(app, version("v2"));
        const seen = await server.waitFor(/Source changed: .*app\.ts; reloading the workers/, { timeout: 500 })
          .then(() => true, () => false);
        if (seen) break;
        if (attempt === 20) throw new Error(`no change seen; log:\n${server.log}`);
      }
      await server.waitFor(/Reload complete: 1 workers of generation 2 serving/);
      // Until the old worker has exited, it may still answer (it drains on Bun and Deno).
      await server.waitFor(new RegExp(`Worker \\(pid:${server.workerPids()[0]}\\) exited`));
      expect((await request(url)).body).toBe("v2");
    });
  });

  describe(`${name}: logs and pidfile`, () => {
    test("--access-logfile - writes one escaped line per request in Gunicorn's format, or JSON", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "--access-logfile", "-",
        "--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s "%({x-test}i)s" %(p)s']);
      const url = await server.ready();
      await request(`${url}/echo?q=1`, { headers: { "x-test": 'a"b' } });
      const line = (await server.waitFor(/"GET \/echo\?q=1 HTTP\/1\.1" 200/)).input!;
      const pid = server.workerPids()[0];
      expect(line).toMatch(new RegExp(`^127\\.0\\.0\\.1 "GET /echo\\?q=1 HTTP/1\\.1" 200 (\\d+|-) "a\\\\"b" <${pid}>$`));
      const json = start(["app.ts", "-b", "127.0.0.1:0", "--access-logfile", "-", "--access-logformat", "json"]);
      const jsonUrl = await json.ready();
      await request(`${jsonUrl}/throw`);
      const entry = (await json.waitFor(/^\{.*"path":"\/throw".*\}$/)).input!;
      expect(JSON.parse(entry)).toMatchObject({ method: "GET", path: "/throw", status: 500, remote: "127.0.0.1" });
    });

    anyEngine("a bad --access-logformat exits 2 naming the atom", async () => {
      const server = start(["app.ts", "--access-logformat", "%(nope)s"]);
      expect((await server.exited()).code).toBe(2);
      expect(server.log).toMatch(/Invalid value for "--access-logformat": unknown atom "%\(nope\)s"/);
    });

    anyEngine("USR1 reopens the error log in the arbiter and the workers", async () => {
      const dir = tempDir();
      const logFile = path.join(dir, "error.log");
      const server = start(["app.ts", "-b", "127.0.0.1:0", "--error-logfile", logFile]);
      await fileMatches(logFile, /is serving/);
      const url = (await fileMatches(logFile, /Listening at: (\S+)/)).match(/Listening at: (\S+)/)![1]!;
      fs.renameSync(logFile, `${logFile}.1`);
      server.signal("SIGUSR1");
      await fileMatches(logFile, /Handling signal: usr1; reopening log files/);
      expect(fs.readFileSync(`${logFile}.1`, "utf8")).toMatch(/Starting unicorn/);
      // The worker reopens too: its next error goes to the new file.
      await fileMatches(logFile, /Worker reopened its log file/);
      expect((await request(`${url}/throw`)).status).toBe(500);
      await fileMatches(logFile, /Error handling request GET \/throw/);
    });

    anyEngine("-p writes the arbiter's pid and removes the file at exit", async () => {
      const pidfile = path.join(tempDir(), "unicorn.pid");
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-p", pidfile]);
      await server.ready();
      expect(fs.readFileSync(pidfile, "utf8")).toBe(`${server.pid}\n`);
      server.signal("SIGTERM");
      expect((await server.exited()).code).toBe(0);
      expect(fs.existsSync(pidfile)).toBe(false);
    });
  });

  anyEngineBlock(`${name}: privileges`, () => {
    const asRoot = process.getuid?.() === 0 ? test : test.skip;
    asRoot("-u and -g run workers as that user and group, without root's supplementary groups (needs root)", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-u", "nobody", "-g", "nogroup"]);
      const url = await server.ready();
      const [worker] = server.workerPids();
      const status = fs.readFileSync(`/proc/${worker}/status`, "utf8");
      expect(status).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      expect(status).toMatch(/^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
      expect(status).toMatch(/^Groups:\s*$/m);
      expect((await request(`${url}/pid`)).body).toBe(String(worker));
      const arbiter = fs.readFileSync(`/proc/${server.pid}/status`, "utf8");
      expect(arbiter).toMatch(/^Uid:\s+0\s/m);
    });

    test("-m sets the umask of the files unicorn creates", async () => {
      const pidfile = path.join(tempDir(), "unicorn.pid");
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-p", pidfile, "-m", "077"]);
      await server.ready();
      expect(fs.statSync(pidfile).mode & 0o777).toBe(0o600);
    });

    test("an unknown user exits 2 naming it", async () => {
      const server = start(["app.ts", "-b", "127.0.0.1:0", "-u", "no-such-user-here"]);
      expect((await server.exited()).code).toBe(2);
      expect(server.log).toMatch(/Invalid value for "--user": no user "no-such-user-here" in \/etc\/passwd/);
    });
  });
}
