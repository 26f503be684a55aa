/**
 * Resolves the configuration from its layers, lowest first: defaults (some
 * read from PORT, WEB_CONCURRENCY, FORWARDED_ALLOW_IPS), the config file, the
 * environment (UNICORN_<NAME>, then UNICORN_CMD_ARGS parsed as a command line),
 * and the command line; and records where each value came from.
 */
import { usageError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { type Config, describeValue, type Env, envName, type Setting, SETTINGS, SETTINGS_BY_NAME } from "./settings.ts";

/** What the command line asked for besides settings. */
export type Action = "serve" | "help" | "version";

/** A config file's content, as loaded by `loadConfigFile`. */
export interface FileLayer {
  readonly path: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/** The outcome of {@linkcode resolveConfig}. */
export interface Resolved {
  action: Action;
  config: Config;
  /** Where each value came from: `default`, `file`, `env PORT`, `env UNICORN_WORKERS`, `UNICORN_CMD_ARGS`, `cli`. */
  sources: Record<keyof Config, string>;
  /** One line per setting that is set but not active yet. */
  warnings: string[];
}

/** A command line parsed against the settings table, values not yet applied. */
export interface ParsedArgs {
  action: Action;
  values: Array<{ setting: Setting; flag: string; value: unknown }>;
  positional: string[];
}

const BY_FLAG = new Map<string, Setting>(SETTINGS.flatMap((s) => s.flags.map((f) => [f, s] as const)));

/**
 * Parses argv (without the program name). `origin` names where it came from in
 * errors: the command line, or `UNICORN_CMD_ARGS`.
 */
export function parseArgs(argv: readonly string[], origin = ""): ParsedArgs {
  const where = origin ? ` in ${origin}` : "";
  const parsed: ParsedArgs = { action: "serve", values: [], positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      parsed.positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") parsed.action = "help";
    else if (arg === "-v" || arg === "--version") parsed.action = "version";
    else if (!arg.startsWith("-") || arg === "-") parsed.positional.push(arg);
    else {
      let flag = arg;
      let inline: string | undefined;
      const eq = arg.indexOf("=");
      if (arg.startsWith("--") && eq > 0) [flag, inline] = [arg.slice(0, eq), arg.slice(eq + 1)];
      else if (!arg.startsWith("--") && arg.length > 2) [flag, inline] = [arg.slice(0, 2), arg.slice(2)];
      const setting = BY_FLAG.get(flag);
      if (!setting) throw usageError(`Unknown option "${flag}"${where}`);
      let text = inline;
      if (text === undefined && setting.metavar === undefined) text = "true";
      if (text === undefined) {
        text = argv[++i];
        if (text === undefined) throw usageError(`Missing value for "${flag}"${where}: expected ${setting.metavar}`);
      }
      parsed.values.push({ setting, flag, value: parseText(setting, text, `"${flag}"${where}`) });
    }
  }
  return parsed;
}

function parseText(setting: Setting, text: string, what: string): unknown {
  try {
    return setting.parse(text);
  } catch (error) {
    throw usageError(`Invalid value for ${what}: expected ${(error as Error).message} (got "${text}")`);
  }
}

/** Splits UNICORN_CMD_ARGS like a shell would, for plain and quoted words. */
export function splitArgs(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The setting a mistyped key was probably meant to be. */
export function suggest(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const setting of SETTINGS) {
    const d = distance(key, setting.name);
    if (d < bestDistance) [best, bestDistance] = [setting.name, d];
  }
  return best;
}

function applyFile(file: FileLayer, config: Record<string, unknown>, sources: Record<string, string>): void {
  for (const [key, value] of Object.entries(file.values)) {
    const setting = SETTINGS_BY_NAME.get(key);
    if (!setting) {
      const guess = suggest(key);
      throw usageError(`Unknown setting "${key}" in "${file.path}"` + (guess ? `: did you mean "${guess}"?` : ""));
    }
    if (setting.cliOnly) throw usageError(`Cannot set "${key}" in "${file.path}": it is a command-line option`);
    if (value === undefined) continue;
    try {
      config[key] = setting.fromFile(value);
    } catch (error) {
      throw usageError(
        `Invalid value for "${key}" in "${file.path}": expected ${(error as Error).message} (got ${describeValue(value)})`,
      );
    }
    sources[key] = "file";
  }
}

function applyArgs(parsed: ParsedArgs, source: string, config: Record<string, unknown>, sources: Record<string, string>) {
  const fresh = new Set<string>();
  for (const { setting, value } of parsed.values) {
    if (setting.repeatable) {
      // A layer's repeated flags replace a lower layer's list, and add up among themselves.
      const list = fresh.has(setting.name) ? (config[setting.name] as unknown[]) : [];
      config[setting.name] = [...list, value];
      fresh.add(setting.name);
    } else {
      config[setting.name] = value;
    }
    sources[setting.name] = source;
  }
}

/**
 * Resolves argv (without the program name), the environment and an optional
 * config file into a Config.
 *
 * @example
 * ```ts
 * const { config } = resolveConfig(["app.ts", "-w", "4"], {});
 * config.workers; // 4
 * ```
 */
export function resolveConfig(argv: readonly string[], env: Env, file?: FileLayer): Resolved {
  const cli = parseArgs(argv);
  const cmdArgs = env.UNICORN_CMD_ARGS ? parseArgs(splitArgs(env.UNICORN_CMD_ARGS), "UNICORN_CMD_ARGS") : undefined;
  const config: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const setting of SETTINGS) {
    config[setting.name] = setting.default;
    sources[setting.name] = "default";
    const fromEnv = setting.envDefault;
    const text = fromEnv ? env[fromEnv.name] : undefined;
    if (fromEnv && text) {
      try {
        config[setting.name] = fromEnv.value(text);
      } catch (error) {
        throw usageError(`Invalid value for "${fromEnv.name}": expected ${(error as Error).message} (got "${text}")`);
      }
      sources[setting.name] = `env ${fromEnv.name}`;
    }
  }
  if (file) applyFile(file, config, sources);
  for (const setting of SETTINGS) {
    if (setting.flags.length === 0 || setting.cliOnly) continue;
    const name = envName(setting);
    const text = env[name];
    if (text === undefined || text === "") continue;
    const parts = setting.repeatable ? text.split(",").map((t) => t.trim()).filter(Boolean) : [text];
    const values = parts.map((part) => parseText(setting, part, `"${name}"`));
    config[setting.name] = setting.repeatable ? values : values[0];
    sources[setting.name] = `env ${name}`;
  }
  if (cmdArgs) applyArgs(cmdArgs, "UNICORN_CMD_ARGS", config, sources);
  applyArgs(cli, "cli", config, sources);

  const positional = cli.positional.length ? cli.positional : cmdArgs?.positional ?? [];
  if (positional.length > 1) throw usageError(`Too many arguments: "${positional.join(" ")}": expected one APP`);
  if (positional.length === 1) {
    config.app = positional[0];
    sources.app = cli.positional.length ? "cli" : "UNICORN_CMD_ARGS";
  }
  const action = cli.action !== "serve" ? cli.action : cmdArgs?.action ?? "serve";
  if (action === "serve" && config.app === undefined && !config.printConfig) {
    throw usageError("Missing APP: expected a module such as app.ts, app.ts:name or app.ts:create(), " +
      "or app in the config file");
  }
  const warnings = SETTINGS.filter((s) => !s.active && sources[s.name] !== "default").map((s) =>
    `Setting "${s.name}" (${s.flags.join(", ")}) is not active in unicorn ${VERSION} yet: ` +
    `its value, from ${sources[s.name]}, has no effect`
  );
  return { action, config: config as unknown as Config, sources: sources as Record<keyof Config, string>, warnings };
}
