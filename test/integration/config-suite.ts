/** Configuration and hooks, run once per runtime. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { request } from "../helpers/http.ts";
import { defaultEngineOnly, type Engine, engineArgs, label } from "./engine.ts";
import { FIXTURES, killAll, type RuntimeName, Server } from "../helpers/server.ts";

const CONFIGS = path.join(FIXTURES, "config");

export function configSuite(runtime: RuntimeName, engine?: Engine): void {
  const name = label(runtime, engine);
  const start = (args: string[], options?: { env?: Record<string, string>; cwd?: string }) =>
    new Server(runtime, [...args, ...engineArgs(engine)], { cwd: CONFIGS, ...options });

  // With another engine, only the hooks around a request and a graceful stop run again; reading and
  // checking the settings, and the arbiter's hooks, happen before and outside any engine.
  const anyEngine = defaultEngineOnly(engine);
  const anyEngineBlock = defaultEngineOnly(engine, describe);
  afterEach(killAll);

  anyEngineBlock(`${name}: configuration`, () => {
    test("--print-config shows the four layers: file, UNICORN_<NAME>, UNICORN_CMD_ARGS and cli", async () => {
      const server = start(["--print-config", "--graceful-timeout", "13"], {
        env: { UNICORN_BACKLOG: "200", UNICORN_CMD_ARGS: "--timeout 14 -w 3" },
      });
      expect((await server.exited()).code).toBe(0);
      const text = server.log;
      expect(text).toMatch(/^app\s+= \.\.\/app\.ts  # file$/m);
      expect(text).toMatch(/^workers\s+= 3  # UNICORN_CMD_ARGS$/m);
      expect(text).toMatch(/^backlog\s+= 200  # env UNICORN_BACKLOG$/m);
      expect(text).toMatch(/^timeout\s+= 14  # UNICORN_CMD_ARGS$/m);
      expect(text).toMatch(/^gracefulTimeout\s+= 13  # cli$/m);
      expect(text).toMatch(/^logLevel\s+= info  # default$/m);
    });

    test("the config file found by default serves, with its settings applied", async () => {
      const server = start(["-b", "127.0.0.1:0"]);
      const url = await server.ready(2);
      expect((await request(`${url}/`)).body).toBe("hello\n");
      expect(server.workerPids()).toHaveLength(2);
    });

    test("a config file that holds the app itself serves it", async () => {
      const server = start(["-c", "app-inside.config.ts"]);
      const url = await server.ready();
      expect((await request(url)).body).toBe("app from the config file");
    });

    test("an unknown key in the config file exits 2 naming the key and the file", async () => {
      const server = start(["-c", "typo.config.json"]);
      expect((await server.exited()).code).toBe(2);
      expect(server.log).toMatch(/Unknown setting "wokers" in ".*typo\.config\.json": did you mean "workers"\?/);
    });

    test("a wrongly typed value in the config file exits 2 naming the key, file, value and what is expected", async () => {
      const server = start(["-c", "wrong-type.config.mjs"]);
      expect((await server.exited()).code).toBe(2);
      expect(server.log).toMatch(
        /Invalid value for "workers" in ".*wrong-type\.config\.mjs": expected a whole number of at least 1 \(got "four"\)/,
      );
    });

    test("--check-config exits 0 for a good app, 4 for one that cannot be imported, 2 for a bad config", async () => {
      const good = start(["--check-config", "../app.ts"]);
      const bad = start(["--check-config", "../syntax-error.ts"]);
      const badConfig = start(["--check-config", "-c", "typo.config.json"]);
      expect((await good.exited()).code).toBe(0);
      expect((await bad.exited()).code).toBe(4);
      expect((await badConfig.exited()).code).toBe(2);
      expect(good.log).toMatch(/Config and app are valid/);
      expect(bad.log).toMatch(/Cannot import app "..\/syntax-error.ts"/);
    });

    test("a setting that is not active yet warns and the server still runs", async () => {
      const server = start(["../app.ts", "-b", "127.0.0.1:0", "--chdir", "/"]);
      await server.ready();
      expect(server.log).toMatch(/\[WARNING\] Setting "chdir" \(--chdir\) is not active/);
    });
  });

  describe(`${name}: hooks`, () => {
    function hookLog(): string {
      return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-hooks-")), "hooks.log");
    }
    const read = (file: string) =>
      fs.readFileSync(file, "utf8").trim().split("\n").map((line) => line.split(" "));

    test("every hook fires in the right process and order through a request and a graceful stop", async () => {
      const file = hookLog();
      const server = start(["-c", "hooks.config.ts"], { env: { HOOK_LOG: file } });
      const url = await server.ready();
      expect((await request(`${url}/pid`)).status).toBe(200);
      server.signal("SIGTERM");
      expect((await server.exited()).code).toBe(0);
      const arbiter = String(server.pid);
      const worker = String(server.workerPids()[0]);
      expect(read(file)).toEqual([
        ["onStarting", arbiter],
        ["whenReady", arbiter],
        ["nworkersChanged", arbiter, "undefined->1"],
        ["preFork", arbiter, "id=1"],
        ["postFork", worker, "id=1"],
        ["postWorkerInit", worker],
        ["preRequest", worker, "/pid"],
        ["postRequest", worker, "200"],
        ["workerExit", worker],
        ["childExit", arbiter, `pid=${worker}`],
        ["onExit", arbiter],
      ]);
      expect(server.log).toMatch(/\[ERROR\] The "postRequest" hook failed: Error: a failing postRequest hook/);
    });

    anyEngine("INT runs workerInt in the worker; TTIN runs nworkersChanged and preFork", async () => {
      const file = hookLog();
      const server = start(["-c", "hooks.config.ts"], { env: { HOOK_LOG: file } });
      await server.ready();
      server.signal("SIGTTIN");
      await server.waitForCount(/is serving/, 2);
      server.signal("SIGINT");
      expect((await server.exited()).code).toBe(0);
      const lines = read(file);
      expect(lines).toContainEqual(["nworkersChanged", String(server.pid), "1->2"]);
      expect(lines).toContainEqual(["preFork", String(server.pid), "id=2"]);
      const workers = server.workerPids().map(String);
      for (const pid of workers) expect(lines).toContainEqual(["workerInt", pid]);
    });
  });
}
