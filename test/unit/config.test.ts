import { describe, expect, test } from "vitest";
import { formatAddress, parseBind } from "../../src/config/bind.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { SIGNALS } from "../../src/arbiter/signals.ts";
import { usage } from "../../src/cli/usage.ts";
import { SETTINGS } from "../../src/config/settings.ts";
import { UnicornError } from "../../src/errors.ts";
import { parseAppSpec } from "../../src/worker/app-loader.ts";

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UnicornError);
    expect((error as UnicornError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error("expected a usage error");
}

describe("bind addresses", () => {
  test.each([
    ["127.0.0.1:8080", { kind: "tcp", host: "127.0.0.1", port: 8080 }],
    ["localhost", { kind: "tcp", host: "localhost", port: 8000 }],
    [":9000", { kind: "tcp", host: "0.0.0.0", port: 9000 }],
    ["[::1]:0", { kind: "tcp", host: "::1", port: 0 }],
    ["[::]", { kind: "tcp", host: "::", port: 8000 }],
    ["unix:/run/app.sock", { kind: "unix", path: "/run/app.sock" }],
    ["fd://3", { kind: "fd", fd: 3 }],
  ])("%s parses", (text, expected) => {
    expect(parseBind(text)).toMatchObject(expected);
  });

  test.each([
    ["127.0.0.1:http", /bad port/],
    ["127.0.0.1:70000", /bad port/],
    ["::1", /bare IPv6 address: write it as \[::1\]:PORT/],
    ["[::1", /unclosed/],
    ["unix:", /no socket path/],
    ["fd://x", /no file descriptor/],
  ])("%s is refused", (text, message) => {
    expect(() => parseBind(text)).toThrow(message);
  });

  test("formats IPv6 hosts in brackets", () => {
    expect(formatAddress(parseBind("[::1]:80"))).toBe("http://[::1]:80");
    expect(formatAddress(parseBind("unix:/a.sock"))).toBe("unix:/a.sock");
  });
});

describe("resolving the configuration", () => {
  test("defaults apply without flags", () => {
    const { config, sources } = resolveConfig(["app.ts"], {});
    expect(config).toMatchObject({ app: "app.ts", workers: 1, backlog: 2048, timeout: 30, gracefulTimeout: 30 });
    expect(config.bind.map((b) => b.text)).toEqual(["127.0.0.1:8000"]);
    expect(sources.workers).toBe("default");
  });

  test("PORT and WEB_CONCURRENCY set the defaults, and flags win over them", () => {
    const env = { PORT: "5000", WEB_CONCURRENCY: "3" };
    const fromEnv = resolveConfig(["app.ts"], env);
    expect(fromEnv.config.bind.map((b) => b.text)).toEqual(["0.0.0.0:5000"]);
    expect(fromEnv.config.workers).toBe(3);
    expect(fromEnv.sources.workers).toBe("env WEB_CONCURRENCY");
    const fromCli = resolveConfig(["app.ts", "-w", "5", "-b", "[::1]:1"], env);
    expect(fromCli.config.workers).toBe(5);
    expect(fromCli.sources.workers).toBe("cli");
    expect(fromCli.config.bind.map((b) => b.text)).toEqual(["[::1]:1"]);
  });

  test("flags take --name value, --name=value and -nVALUE; --bind repeats", () => {
    const { config } = resolveConfig(
      ["-w4", "--backlog=10", "--timeout", "2.5", "-b", "a:1", "--bind=b:2", "--reuse-port", "app.ts"],
      {},
    );
    expect(config).toMatchObject({ workers: 4, backlog: 10, timeout: 2.5, reusePort: true });
    expect(config.bind.map((b) => b.text)).toEqual(["a:1", "b:2"]);
  });

  test("bad input is one message naming the flag and the value", () => {
    expect(usageMessage(() => resolveConfig(["app.ts", "-w", "0"], {}))).toBe(
      'Invalid value for "-w": expected a whole number of at least 1 (got "0")',
    );
    expect(usageMessage(() => resolveConfig(["app.ts", "--log-level", "loud"], {}))).toMatch(
      /expected one of debug, info, warning, error, critical/,
    );
    expect(usageMessage(() => resolveConfig(["app.ts", "--nope"], {}))).toBe('Unknown option "--nope"');
    expect(usageMessage(() => resolveConfig(["app.ts", "-w"], {}))).toBe('Missing value for "-w": expected INT');
    expect(usageMessage(() => resolveConfig(["a.ts", "b.ts"], {}))).toMatch(/Too many arguments/);
    expect(usageMessage(() => resolveConfig([], {}))).toMatch(/Missing APP/);
    expect(usageMessage(() => resolveConfig(["app.ts"], { WEB_CONCURRENCY: "lots" }))).toBe(
      'Invalid value for "WEB_CONCURRENCY": expected a whole number of at least 1 (got "lots")',
    );
  });

  test("--help and --version need no APP", () => {
    expect(resolveConfig(["--help"], {}).action).toBe("help");
    expect(resolveConfig(["-v"], {}).action).toBe("version");
  });

  test("--help lists every flag of the settings table with its default", () => {
    const lines = usage().split("\n");
    for (const setting of SETTINGS.filter((s) => s.flags.length > 0)) {
      // The setting's own line: its flags, whole, in order; then its doc; then its default.
      const at = lines.findIndex((line) => line.trim().startsWith(setting.flags.join(", ")));
      expect(at, setting.name).toBeGreaterThan(0);
      for (const flag of setting.flags) expect(lines[at]!.split(/[ ,]+/), setting.name).toContain(flag);
      expect(lines[at + 1]!.trim()).toBe(setting.doc);
      expect(lines[at + 2]!.trim()).toBe(`Default: ${setting.defaultText}.`);
    }
  });

  test("--help's signals line comes from the arbiter's signal table", () => {
    const line = usage().split("\n").find((l) => l.startsWith("Signals: "))!;
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    for (const { signal, effect } of SIGNALS) expect(line).toMatch(new RegExp(`\\b${signal.slice(3)}\\b[^;]*: ${escape(effect)}`));
  });
});

describe("APP specs", () => {
  test.each([
    ["app.ts", { path: "app.ts", name: "default", factory: false }],
    ["src/app.ts:server", { path: "src/app.ts", name: "server", factory: false }],
    ["src/app.ts:create()", { path: "src/app.ts", name: "create", factory: true }],
  ])("%s parses", (text, expected) => {
    expect(parseAppSpec(text)).toEqual(expected);
  });

  test("a malformed spec is a usage error", () => {
    expect(() => parseAppSpec("app.ts:")).toThrow(/expected path\/to\/module.ts/);
  });
});
