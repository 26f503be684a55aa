import { describe, expect, test } from "vitest";
import { resolveHttpSettings } from "../../src/arbiter/http-config.ts";
import type { OpenListeners } from "../../src/arbiter/listeners.ts";
import { arbiterEnv, spawnSpec, workerEnv, type WorkerLaunch, workerSpec } from "../../src/arbiter/spawn-spec.ts";
import { INHERITANCE_ENV } from "../../src/arbiter/upgrade.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { WORKER_SPEC_ENV, type WorkerSpec } from "../../src/messages.ts";
import type { BoundListener } from "../../src/runtime.ts";
import { FakeRuntime } from "../helpers/fake-runtime.ts";

const shared: OpenListeners = {
  strategy: "shared",
  bound: [{ fd: 10 }, { fd: 11 }] as unknown as BoundListener[],
  serve: [
    { kind: "fd", fd: 3, address: { kind: "tcp", host: "127.0.0.1", port: 8000, text: "127.0.0.1:8000" } },
    { kind: "fd", fd: 4, address: { kind: "tcp", host: "::1", port: 8000, text: "[::1]:8000" } },
  ],
};

function launch(args: string[], overrides: Partial<WorkerLaunch> = {}): { runtime: FakeRuntime; launch: WorkerLaunch } {
  const runtime = new FakeRuntime();
  const { config } = resolveConfig(["app.ts", ...args], {});
  return {
    runtime,
    launch: {
      id: 7,
      config,
      configFile: undefined,
      control: "/tmp/unicorn-1-x/control.sock",
      listeners: shared,
      http: resolveHttpSettings(runtime, config),
      loader: undefined,
      env: workerEnv(runtime, config),
      ids: {},
      ...overrides,
    },
  };
}

describe("a worker's spawn spec", () => {
  test("the worker's settings come from the config, the arbiter and the listeners it serves", () => {
    const { runtime, launch: l } = launch(["-t", "12", "--graceful-timeout", "9", "--max-requests", "100", "--access-logfile", "-"]);
    const spec = workerSpec(runtime, l);
    expect(spec).toMatchObject({
      id: 7,
      arbiterPid: 1,
      control: "/tmp/unicorn-1-x/control.sock",
      app: "app.ts",
      configFile: null,
      cwd: "/app",
      listeners: shared.serve,
      timeout: 12,
      gracefulTimeout: 9,
      maxRequests: 100,
      accessLog: "-",
      http: l.http,
    });
    expect(spec).not.toHaveProperty("loader");
    expect(workerSpec(runtime, { ...l, loader: "tsx", configFile: "/app/unicorn.config.ts" })).toMatchObject({
      loader: "tsx",
      configFile: "/app/unicorn.config.ts",
    });
  });

  test("an app held by the config file itself is not named; no access log is null", () => {
    const { runtime, launch: l } = launch([]);
    const config = { ...l.config, app: { fetch: () => new Response("") } } as unknown as WorkerLaunch["config"];
    const spec = workerSpec(runtime, { ...l, config });
    expect(spec.app).toBeNull();
    expect(spec.accessLog).toBeNull();
  });

  test("--max-requests-jitter adds 0 to JITTER requests, drawn per worker; without --max-requests it stays 0", () => {
    const { runtime, launch: l } = launch(["--max-requests", "100", "--max-requests-jitter", "10"]);
    expect(workerSpec(runtime, l, () => 0).maxRequests).toBe(100);
    expect(workerSpec(runtime, l, () => 0.999).maxRequests).toBe(110);
    expect(workerSpec(runtime, l, () => 0.5).maxRequests).toBe(105);
    const off = launch(["--max-requests-jitter", "10"]);
    expect(workerSpec(off.runtime, off.launch, () => 0.999).maxRequests).toBe(0);
  });

  test("the spawn carries the spec in the environment, the bound listeners as fds in order, and the user", () => {
    const { runtime, launch: l } = launch([], { env: { PATH: "/bin" }, ids: { uid: 65534, gid: 65534 } });
    const spec = workerSpec(runtime, l);
    const spawn = spawnSpec(runtime, l, spec);
    expect(spawn.fds).toEqual([10, 11]);
    expect(spawn.env.PATH).toBe("/bin");
    expect(JSON.parse(spawn.env[WORKER_SPEC_ENV]!) as WorkerSpec).toEqual(JSON.parse(JSON.stringify(spec)));
    expect(spawn).toMatchObject({ uid: 65534, gid: 65534, output: undefined });
  });

  test("--capture-output sends the worker's output to the error log file, resolved from the cwd; not when it is standard error", () => {
    const file = launch(["--capture-output", "--error-logfile", "logs/error.log"]);
    expect(spawnSpec(file.runtime, file.launch, workerSpec(file.runtime, file.launch)).output).toBe("/app/logs/error.log");
    const stderr = launch(["--capture-output"]);
    expect(spawnSpec(stderr.runtime, stderr.launch, workerSpec(stderr.runtime, stderr.launch)).output).toBeUndefined();
  });
});

describe("the workers' environment", () => {
  test("is the arbiter's, less the variables that handed it sockets, with -e applied", () => {
    const runtime = new FakeRuntime();
    runtime.environment = { PATH: "/bin", KEEP: "1", ...Object.fromEntries(INHERITANCE_ENV.map((key) => [key, "x"])) };
    expect(arbiterEnv(runtime)).toEqual({ PATH: "/bin", KEEP: "1" });
    const { config } = resolveConfig(["app.ts", "-e", "KEEP=2", "-e", "EXTRA=a=b"], {});
    expect(workerEnv(runtime, config)).toEqual({ PATH: "/bin", KEEP: "2", EXTRA: "a=b" });
    // The arbiter's own environment is left as it was.
    expect(runtime.environment.KEEP).toBe("1");
  });
});
