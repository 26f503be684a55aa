/**
 * Seeing and steering a running server: `unicorn ctl` against the control socket, Prometheus metrics,
 * StatsD packets, the health path during a graceful stop, and process titles, on one runtime.
 */
import { execFile } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { RawConnection, request } from "../helpers/http.ts";
import { parseExposition } from "../helpers/prometheus.ts";
import { command, killAll, ROOT, type RuntimeName, Server, waitGone } from "../helpers/server.ts";
import { type Engine, engineArgs, label } from "./engine.ts";

const APP = path.join(ROOT, "test/fixtures/app.ts");

/** Runs `unicorn ctl ARGS` on the runtime; resolves with its exit code and output. */
export function ctl(runtime: RuntimeName, args: string[], env: Record<string, string> = {}, uid?: number) {
  const [cmd, ...rest] = command(runtime);
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(cmd!, [...rest, "ctl", ...args], {
      env: { ...process.env, npm_lifecycle_event: undefined, ...env },
      timeout: 30_000,
      ...(uid === undefined ? {} : { uid, gid: uid }),
    }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

/** Waits, with a deadline, until `check` returns something. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-obs-"));
}

export function observabilitySuite(runtime: RuntimeName, engine?: Engine): void {
  const name = label(runtime, engine);
  afterEach(killAll);

  describe(`${name}: unicorn ctl`, () => {
    test("status, workers, stats, config, scale, worker add/remove/kill, reload, reopen and stop", async () => {
      const dir = tempDir();
      const socket = path.join(dir, "app.ctl");
      const server = new Server(runtime, [APP, "-w", "2", "-b", "127.0.0.1:0", "--control-socket", socket, "-e", "SECRET=hunter2", ...engineArgs(engine)]);
      const url = await server.ready(2);
      const at = ["--socket", socket];
      // The socket and its folder are the owner's alone.
      expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
      const status = JSON.parse((await ctl(runtime, [...at, "status", "--json"])).stdout);
      expect(status).toMatchObject({ pid: server.pid, runtime, workers: 2, serving: 2, generation: 1, state: "running" });
      expect(status.listeners).toEqual([url]);
      for (let i = 0; i < 10; i++) expect((await request(`${url}/pid`)).status).toBe(200);
      // Counts come with the workers' heartbeats (at most a second apart).
      const stats = await until("the 10 requests in stats", async () => {
        const s = JSON.parse((await ctl(runtime, [...at, "stats", "--json"])).stdout);
        return s.requests >= 10 ? s : undefined;
      });
      expect(stats).toMatchObject({ requests: 10, byStatus: { "2xx": 10 }, byMethod: { GET: 10 } });
      const table = await ctl(runtime, [...at, "workers"]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^PID\s+ID\s+GEN\s+STATE\s+AGE\s+REQUESTS\s+IN FLIGHT\s+WEBSOCKETS\s+BUSY\s+P50\s+P99\s+RSS\s+HEARTBEAT$/m);
      for (const pid of server.workerPids()) expect(table.stdout).toMatch(new RegExp(`^${pid}\\s+\\d+\\s+1\\s+serving\\s`, "m"));
      const config = await ctl(runtime, [...at, "config"]);
      expect(config.stdout).toMatch(/^workers\s+= 2  # cli$/m);
      expect(config.stdout).toMatch(/^env\s+= SECRET=\*\*\*  # cli$/m);
      expect(config.stdout).not.toContain("hunter2");

      expect((await ctl(runtime, [...at, "scale", "3"])).stdout.trim()).toBe("workers: 3");
      await server.waitForCount(/is serving, booted in/, 3);
      expect((await ctl(runtime, [...at, "worker", "remove"])).stdout.trim()).toBe("workers: 2");
      const serving = async () => {
        const rows = JSON.parse((await ctl(runtime, [...at, "workers", "--json"])).stdout).workers as Array<{ state: string; pid: number }>;
        return rows.length === 2 && rows.every((w) => w.state === "serving") ? rows : undefined;
      };
      // The oldest retires; then two serve.
      const victim = (await until("two workers after the removal", serving))[0]!.pid;
      expect((await ctl(runtime, [...at, "worker", "kill", String(victim)])).code).toBe(0);
      await server.waitFor(new RegExp(`Worker \\(pid:${victim}\\) exited`));
      await until("two workers serving again, the killed one replaced", async () => {
        const rows = await serving();
        return rows && rows.every((w) => w.pid !== victim) ? rows : undefined;
      });
      const missing = await ctl(runtime, [...at, "worker", "kill", "1"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/unicorn ctl: no worker has pid 1/);

      const reload = await ctl(runtime, [...at, "reload"]);
      expect(reload.code).toBe(0);
      expect(reload.stdout).toMatch(/^reloaded: generation 2 serving \(2 workers\), \d+ ms$/m);
      expect((await ctl(runtime, [...at, "reopen"])).code).toBe(0);
      await server.waitFor(/Handling signal: usr1/);
      expect((await ctl(runtime, [...at, "stop"])).stdout.trim()).toBe("stopping gracefully");
      expect((await server.exited()).code).toBe(0);
      // The socket goes with the server.
      expect(fs.existsSync(socket)).toBe(false);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test("finds the only server of the user by itself; a clear error when none answers", async () => {
      const xdg = tempDir();
      const env = { XDG_RUNTIME_DIR: xdg };
      const none = await ctl(runtime, ["status"], env);
      expect(none.code).toBe(3);
      expect(none.stderr.trim()).toBe(`unicorn ctl: no unicorn control socket in "${xdg}/unicorn": is a server running as this user? (or pass --socket PATH)`);
      const server = new Server(runtime, [APP, "-b", "127.0.0.1:0", "--name", "shop", ...engineArgs(engine)], { env });
      await server.ready();
      expect(server.log).toContain(`Control socket: ${xdg}/unicorn/shop.ctl`);
      expect(fs.statSync(path.join(xdg, "unicorn")).mode & 0o777).toBe(0o700);
      expect(JSON.parse((await ctl(runtime, ["status", "--json"], env)).stdout)).toMatchObject({ name: "shop", pid: server.pid });
      expect((await ctl(runtime, ["--name", "shop", "status", "--json"], env)).code).toBe(0);
      // A path that holds something else is never replaced.
      fs.mkdirSync(path.join(xdg, "folder"));
      fs.writeFileSync(path.join(xdg, "folder", "keep.txt"), "kept");
      const misnamed = new Server(runtime, [APP, "-b", "127.0.0.1:0", "--control-socket", path.join(xdg, "folder"), ...engineArgs(engine)]);
      expect((await misnamed.exited()).code).toBe(2);
      expect(misnamed.log).toMatch(/Cannot create the control socket ".*folder": a directory is there, not a socket/);
      expect(fs.readFileSync(path.join(xdg, "folder", "keep.txt"), "utf8")).toBe("kept");
      const dead = await ctl(runtime, ["--socket", path.join(xdg, "nothing.ctl"), "workers"]);
      expect(dead.code).toBe(3);
      expect(dead.stderr).toMatch(/unicorn ctl: cannot reach a unicorn at ".*nothing\.ctl": there is no such socket: is the server running\?/);
      const usage = await ctl(runtime, ["scale", "none"], env);
      expect(usage.code).toBe(2);
      // A second server of the same name is refused, not silently given the first one's socket.
      const twin = new Server(runtime, [APP, "-b", "127.0.0.1:0", "--name", "shop", ...engineArgs(engine)], { env });
      expect((await twin.exited()).code).toBe(2);
      expect(twin.log).toMatch(/Cannot create the control socket ".*shop\.ctl": another unicorn answers there/);
      fs.rmSync(xdg, { recursive: true, force: true });
    });

    const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
    (asRoot ? test : test.skip)(`another user cannot connect${asRoot ? "" : " (skipped: needs root to start a second user)"}`, async () => {
      const dir = tempDir();
      fs.chmodSync(dir, 0o755);
      const socket = path.join(dir, "app.ctl");
      const server = new Server(runtime, [APP, "-b", "127.0.0.1:0", "--control-socket", socket, ...engineArgs(engine)]);
      await server.ready();
      const other = await ctl(runtime, ["--socket", socket, "status"], { HOME: "/tmp" }, 65534);
      expect(other.code).toBe(3);
      expect(other.stderr).toMatch(/permission denied: it belongs to another user/);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test("top draws the workers with their request rates", async () => {
      const dir = tempDir();
      const socket = path.join(dir, "app.ctl");
      const server = new Server(runtime, [APP, "-w", "2", "-b", "127.0.0.1:0", "--control-socket", socket, ...engineArgs(engine)]);
      await server.ready(2);
      const frames = await ctl(runtime, ["--socket", socket, "top", "--frames", "2", "--interval", "0.3", "--json"]);
      expect(frames.code).toBe(0);
      const lines = frames.stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(lines).toHaveLength(2);
      expect(lines[1].workers.map((w: { pid: number }) => w.pid).sort()).toEqual(server.workerPids().sort());
      expect(Object.keys(lines[1].rates)).toHaveLength(2);
      const screen = await ctl(runtime, ["--socket", socket, "top", "--frames", "1"]);
      expect(screen.stdout).toMatch(/\x1b\[H\x1b\[2Junicorn \S+ on /);
      expect(screen.stdout).toMatch(/REQ\/S/);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });

  describe(`${name}: metrics`, () => {
    test("Prometheus: exact counts after known traffic, and a killed worker's counts kept", async () => {
      const server = new Server(runtime, [APP, "-w", "2", "-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0", "--no-control-socket", ...engineArgs(engine)]);
      const url = await server.ready(2);
      const metricsUrl = (await server.waitFor(/Metrics at: (\S+)/))[1]!;
      expect(metricsUrl).not.toMatch(/:0\//);
      for (let i = 0; i < 6; i++) await request(`${url}/pid`);
      for (let i = 0; i < 2; i++) await request(`${url}/echo`, { method: "POST", body: "x" });
      const key = 'unicorn_http_requests_total{method="GET",code="2xx"}';
      const scrape = async () => parseExposition((await request(metricsUrl)).body);
      const first = await until("8 requests in the scrape", async () => {
        const m = await scrape();
        return (m.get(key) ?? 0) + (m.get('unicorn_http_requests_total{method="POST",code="2xx"}') ?? 0) >= 8 ? m : undefined;
      });
      expect(first.get(key)).toBe(6);
      expect(first.get('unicorn_http_requests_total{method="POST",code="2xx"}')).toBe(2);
      expect(first.get("unicorn_http_request_duration_seconds_count")).toBe(8);
      expect(first.get('unicorn_workers{state="serving"}')).toBe(2);
      const [victim] = server.workerPids();
      process.kill(victim!, "SIGKILL");
      await server.waitFor(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL`));
      const after = await scrape();
      expect(after.get(key)).toBe(6);
      expect(after.get('unicorn_worker_restarts_total{reason="crash"}')).toBe(1);
      expect(after.has(`unicorn_worker_resident_memory_bytes{pid="${victim}"}`)).toBe(false);
      expect((await request(metricsUrl.replace("/metrics", "/other"))).status).toBe(404);
    });

    test("a worker that leaves (recycled by --max-requests) hands in its last counts: none is lost", async () => {
      const dir = tempDir();
      const socket = path.join(dir, "app.ctl");
      const server = new Server(runtime, [APP, "-w", "1", "-b", "127.0.0.1:0", "--max-requests", "7", "--control-socket", socket, ...engineArgs(engine)]);
      const url = await server.ready();
      for (let i = 0; i < 20; i++) expect((await request(`${url}/pid`)).status).toBe(200);
      // 20 requests at 7 a worker: a worker recycled (it serves on until its replacement does), and gone.
      const stats = await until("20 requests counted, a worker recycled", async () => {
        const s = JSON.parse((await ctl(runtime, ["--socket", socket, "stats", "--json"])).stdout);
        return s.requests >= 20 && s.restarts["max-requests"] >= 1 ? s : undefined;
      });
      expect(stats.requests).toBe(20);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test("StatsD: Gunicorn's names over UDP, once a second", async () => {
      const udp = dgram.createSocket("udp4");
      const packets: string[] = [];
      udp.on("message", (message) => packets.push(message.toString()));
      await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
      try {
        const port = udp.address().port;
        const server = new Server(runtime, [APP, "-b", "127.0.0.1:0", "--statsd-host", `127.0.0.1:${port}`, "--statsd-prefix", "shop", "--dogstatsd-tags", "env:test", "--no-control-socket", ...engineArgs(engine)]);
        const url = await server.ready();
        for (let i = 0; i < 3; i++) await request(`${url}/pid`);
        const sum = (name: string) =>
          packets.flatMap((p) => p.split("\n")).filter((l) => l.startsWith(`${name}:`)).reduce((n, l) => n + Number(l.split(":")[1]!.split("|")[0]), 0);
        await until("3 requests counted by StatsD", async () => (sum("shop.unicorn.requests") >= 3 ? true : undefined));
        expect(sum("shop.unicorn.requests")).toBe(3);
        expect(sum("shop.unicorn.request.status.2xx")).toBe(3);
        const lines = packets.flatMap((p) => p.split("\n"));
        expect(lines).toContain("shop.unicorn.workers:1|g|#env:test");
        expect(lines.some((l) => /^shop\.unicorn\.request\.duration:[\d.]+\|ms(\|@[\d.]+)?\|#env:test$/.test(l))).toBe(true);
      } finally {
        udp.close();
      }
    });
  });

  describe(`${name}: health`, () => {
    test("the health path answers before the app, 503 during --shutdown-delay while the listener still accepts", async () => {
      const server = new Server(runtime, [APP, "-b", "127.0.0.1:0", "--health-path", "/healthz", "--shutdown-delay", "2", "--access-logfile", "-", "--no-control-socket", ...engineArgs(engine)]);
      const url = await server.ready();
      const ok = await request(`${url}/healthz`);
      expect([ok.status, ok.body]).toEqual([200, "ok\n"]);
      expect((await request(`${url}/healthz/live`)).status).toBe(200);
      // Not logged, not the app's.
      expect(server.lines.some((l) => l.includes("/healthz"))).toBe(false);
      server.signal("SIGTERM");
      await server.waitFor(/Stopping in 2 s \(--shutdown-delay\)/);
      // A fresh connection is still accepted, and told the server is going.
      const going = await request(`${url}/healthz`);
      expect([going.status, going.body]).toEqual([503, "stopping\n"]);
      expect((await request(`${url}/healthz/live`)).status).toBe(200);
      expect((await request(`${url}/pid`)).status).toBe(200);
      expect((await server.exited()).code).toBe(0);
    });

    test("a worker leaving alone (a reload's old one) still answers the health path 200: a check that lands on it keeps the instance in", async () => {
      const server = new Server(runtime, [APP, "-b", "127.0.0.1:0", "-w", "1", "--health-path", "/healthz", "--no-control-socket", ...engineArgs(engine)]);
      const url = await server.ready();
      const [old] = server.workerPids();
      const conn = new RawConnection(Number(new URL(url).port));
      try {
        await conn.connected();
        conn.send("/healthz");
        const before = await conn.read();
        expect(before.headers.connection).not.toBe("close");
        expect(before.status).toBe(200);
        server.signal("SIGHUP");
        // Asked again and again on the old worker's kept-alive connection: the first answer it gives while
        // it drains is the last on the connection (Connection: close), and it still says the server is fine.
        const deadline = Date.now() + 15_000;
        let answer = before;
        while (answer.headers.connection !== "close") {
          if (Date.now() > deadline) throw new Error("the old worker never began to drain");
          conn.send("/healthz");
          answer = await conn.read();
        }
        expect([answer.status, answer.body]).toEqual([200, "ok\n"]);
        // The old worker leaves once its last answer is sent.
        expect(await waitGone([old!], 15_000)).toEqual([]);
      } finally {
        conn.close();
      }
    });

    test("after USR2, TERM to the old arbiter retires its workers: their health path still says 200, no --shutdown-delay is waited", async () => {
      const server = new Server(runtime, [APP, "-b", "127.0.0.1:0", "-w", "1", "--health-path", "/healthz", "--shutdown-delay", "30", "--no-control-socket", ...engineArgs(engine)]);
      const url = await server.ready();
      const conn = new RawConnection(Number(new URL(url).port));
      try {
        await conn.connected();
        conn.send("/pid");
        const oldWorker = Number((await conn.read()).body);
        expect(server.workerPids()).toContain(oldWorker);
        server.signal("SIGUSR2");
        const [, successor] = await server.waitFor(/started a new arbiter with pid: (\d+)/);
        server.extraPids.push(Number(successor));
        await server.waitForCount(/is serving/, 2);
        server.signal("SIGTERM");
        // The old worker's kept-alive connection: its answers while it drains end with Connection: close,
        // and say the server (now the new arbiter's) is fine.
        const deadline = Date.now() + 15_000;
        let answer = { status: 0, headers: {} as Record<string, string>, body: "" };
        while (answer.headers.connection !== "close") {
          if (Date.now() > deadline) throw new Error("the old worker never began to drain");
          conn.send("/healthz");
          answer = await conn.read();
        }
        expect([answer.status, answer.body]).toEqual([200, "ok\n"]);
        // Well within the 30 s of --shutdown-delay, which a server that goes on does not wait.
        expect((await server.exited()).code).toBe(0);
        expect(await waitGone([oldWorker], 10_000)).toEqual([]);
        expect((await request(`${url}/healthz`)).status).toBe(200);
        process.kill(Number(successor), "SIGTERM");
      } finally {
        conn.close();
      }
    });
  });

  describe(`${name}: process titles`, () => {
    const titles = runtime === "node";
    (titles ? test : test.skip)(`--name sets the arbiter's and the workers' titles${titles ? "" : ` (skipped: ${runtime} cannot set a process title)`}`, async () => {
      const server = new Server(runtime, [APP, "-b", "127.0.0.1:0", "-n", "shop", "--no-control-socket", ...engineArgs(engine)]);
      await server.ready();
      const cmdline = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replace(/\0/g, " ");
      const comm = (pid: number) => fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      const shows = (pid: number, title: string) => cmdline(pid).startsWith(title) || comm(pid) === title.slice(0, 15);
      expect(shows(server.pid, "unicorn: arbiter [shop]"), `${cmdline(server.pid)} / ${comm(server.pid)}`).toBe(true);
      const [worker] = server.workerPids();
      expect(shows(worker!, "unicorn: worker [shop]"), `${cmdline(worker!)} / ${comm(worker!)}`).toBe(true);
    });
  });
}
