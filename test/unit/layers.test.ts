import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { printConfig } from "../../src/config/print.ts";
import { settingsReference } from "../../src/config/reference.ts";
import { resolveConfig, splitArgs, suggest } from "../../src/config/resolve.ts";
import { envName, SETTINGS } from "../../src/config/settings.ts";

const file = (values: Record<string, unknown>) => ({ path: "unicorn.config.ts", values });

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected an error");
}

describe("the four layers", () => {
  test("each layer overrides the one below: default < file < UNICORN_<NAME> < UNICORN_CMD_ARGS < cli", () => {
    const layers = file({ workers: 2, backlog: 10, timeout: 5, gracefulTimeout: 7 });
    const env = { UNICORN_BACKLOG: "20", UNICORN_TIMEOUT: "6", UNICORN_CMD_ARGS: "--timeout 8 --graceful-timeout=9" };
    const { config, sources } = resolveConfig(["app.ts", "--graceful-timeout", "10"], env, layers);
    expect(config).toMatchObject({ workers: 2, backlog: 20, timeout: 8, gracefulTimeout: 10, logLevel: "info" });
    expect(sources).toMatchObject({
      workers: "file",
      backlog: "env UNICORN_BACKLOG",
      timeout: "UNICORN_CMD_ARGS",
      gracefulTimeout: "cli",
      logLevel: "default",
    });
  });

  test("PORT and WEB_CONCURRENCY are defaults: the config file wins over them", () => {
    const { config, sources } = resolveConfig(["app.ts"], { PORT: "9000", WEB_CONCURRENCY: "3" }, file({ workers: 5 }));
    expect(config.workers).toBe(5);
    expect(config.bind[0]!.text).toBe("0.0.0.0:9000");
    expect(sources.bind).toBe("env PORT");
  });

  test("UNICORN_CMD_ARGS may name the app, and the config file may hold it", () => {
    expect(resolveConfig([], { UNICORN_CMD_ARGS: "'my app.ts' -w 2" }).config.app).toBe("my app.ts");
    expect(resolveConfig([], {}, file({ app: "src/app.ts" })).config.app).toBe("src/app.ts");
    const app = { fetch: () => new Response() };
    expect(resolveConfig([], {}, file({ app })).config.app).toBe(app);
  });

  test("a list from the environment is comma-separated; in a file, a string or an array", () => {
    const fromEnv = resolveConfig(["a.ts"], { UNICORN_BIND: "127.0.0.1:1, [::1]:2" });
    expect(fromEnv.config.bind.map((b) => b.text)).toEqual(["127.0.0.1:1", "[::1]:2"]);
    expect(resolveConfig(["a.ts"], {}, file({ bind: "unix:/s" })).config.bind[0]).toMatchObject({ kind: "unix" });
    expect(resolveConfig(["a.ts"], {}, file({ env: ["A=1", "B=2"] })).config.env).toEqual(["A=1", "B=2"]);
  });

  test("every flagged setting has an environment variable named after it, and reads it", () => {
    expect(envName(SETTINGS.find((s) => s.name === "maxRequestsJitter")!)).toBe("UNICORN_MAX_REQUESTS_JITTER");
    const names = new Set<string>();
    for (const setting of SETTINGS.filter((s) => s.flags.length > 0 && !s.cliOnly)) {
      const name = envName(setting);
      expect(name, setting.name).toBe(`UNICORN_${setting.name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`);
      expect(names.has(name), name).toBe(false);
      names.add(name);
      // The variable is read: a value the setting cannot take is refused naming the variable, one it
      // can take is the resolved value.
      const text = "not-a-value";
      let parsed: unknown;
      try {
        parsed = setting.parse(text);
      } catch {
        expect(() => resolveConfig(["a.ts"], { [name]: text }), name).toThrow(new RegExp(name));
        continue;
      }
      const value = resolveConfig(["a.ts"], { [name]: text }).config[setting.name];
      expect(value, name).toEqual(setting.repeatable ? [parsed] : parsed);
    }
  });

  test("splitArgs keeps quoted words whole", () => {
    expect(splitArgs(`-b "127.0.0.1:1" --name 'my app'  -w3`)).toEqual(["-b", "127.0.0.1:1", "--name", "my app", "-w3"]);
  });
});

describe("config file errors name the key, the file, the value and what is expected", () => {
  test("an unknown key, with a suggestion", () => {
    expect(message(() => resolveConfig(["a.ts"], {}, file({ wokers: 2 })))).toBe(
      'Unknown setting "wokers" in "unicorn.config.ts": did you mean "workers"?',
    );
    expect(suggest("zzzzzzzz")).toBeUndefined();
  });

  test("a wrong type or a bad value", () => {
    expect(message(() => resolveConfig(["a.ts"], {}, file({ workers: "four" })))).toBe(
      'Invalid value for "workers" in "unicorn.config.ts": expected a whole number of at least 1 (got "four")',
    );
    expect(message(() => resolveConfig(["a.ts"], {}, file({ logLevel: "loud" })))).toMatch(
      /"logLevel" in "unicorn.config.ts": expected one of debug, info/,
    );
    expect(message(() => resolveConfig(["a.ts"], {}, file({ onStarting: "yes" })))).toMatch(/expected a function/);
    expect(message(() => resolveConfig(["a.ts"], {}, file({ bind: ["127.0.0.1:x"] })))).toMatch(/bad port/);
    expect(message(() => resolveConfig(["a.ts"], {}, file({ printConfig: true })))).toMatch(/command-line option/);
  });

  test("a bad environment value names the variable", () => {
    expect(message(() => resolveConfig(["a.ts"], { UNICORN_WORKERS: "0" }))).toBe(
      'Invalid value for "UNICORN_WORKERS": expected a whole number of at least 1 (got "0")',
    );
    expect(message(() => resolveConfig(["a.ts"], { UNICORN_CMD_ARGS: "--bogus" }))).toBe(
      'Unknown option "--bogus" in UNICORN_CMD_ARGS',
    );
  });
});

test("a setting that is not active yet is accepted with a warning", () => {
  const { config, warnings } = resolveConfig(["a.ts", "--chdir", "/srv"], {});
  expect(config.chdir).toBe("/srv");
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/^Setting "chdir" \(--chdir\) is not active in unicorn \S+ yet: its value, from cli, has no effect$/);
  expect(resolveConfig(["a.ts"], {}).warnings).toEqual([]);
});

test("--print-config shows every setting with its source", () => {
  const resolved = resolveConfig(["a.ts", "-w", "3"], { UNICORN_BACKLOG: "64" }, file({ timeout: 9 }));
  const text = printConfig(resolved);
  expect(text).toMatch(/^workers\s+= 3  # cli$/m);
  expect(text).toMatch(/^backlog\s+= 64  # env UNICORN_BACKLOG$/m);
  expect(text).toMatch(/^timeout\s+= 9  # file$/m);
  expect(text).toMatch(/^bind\s+= 127\.0\.0\.1:8000  # default$/m);
  const flagged = SETTINGS.filter((s) => s.section !== "Server hooks");
  expect(text.split("\n")).toHaveLength(flagged.length);
});

test("docs/settings.md is what the settings table generates (run `npm run docs`)", () => {
  const committed = fs.readFileSync(path.resolve(import.meta.dirname, "../../docs/settings.md"), "utf8");
  expect(committed).toBe(settingsReference());
  for (const setting of SETTINGS) expect(committed).toContain(`\`${setting.name}\``);
});
