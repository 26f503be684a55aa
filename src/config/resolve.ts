/**
 * Resolves the configuration from its layers, lowest first: defaults (some
 * read from the environment), then the command line; and records where each
 * value came from, for `--print-config`.
 */
import { usageError } from "../errors.ts";
import { type Config, type Env, type Setting, SETTINGS } from "./settings.ts";

/** Where a resolved value came from. */
export type Source = "default" | "env" | "cli";

/** What the command line asked for besides settings. */
export type Action = "serve" | "help" | "version";

/** The outcome of {@linkcode resolveConfig}. */
export interface Resolved {
  action: Action;
  config: Config;
  sources: Record<keyof Config, Source>;
}

const BY_FLAG = new Map<string, Setting>(SETTINGS.flatMap((s) => s.flags.map((f) => [f, s] as const)));

function isSwitch(setting: Setting): boolean {
  return setting.metavar === undefined;
}

function valueOf(setting: Setting, flagName: string, text: string): unknown {
  try {
    return setting.parse(text);
  } catch (error) {
    throw usageError(`Invalid value for "${flagName}": ${(error as Error).message} (got "${text}")`);
  }
}

/**
 * Resolves argv (without the program name) and the environment into a Config.
 *
 * @example
 * ```ts
 * const { config } = resolveConfig(["app.ts", "-w", "4"], {});
 * config.workers; // 4
 * ```
 */
export function resolveConfig(argv: readonly string[], env: Env): Resolved {
  const config = {} as Record<string, unknown>;
  const sources = {} as Record<string, Source>;
  for (const setting of SETTINGS) {
    config[setting.name] = setting.default;
    sources[setting.name] = "default";
    const fromEnv = setting.envDefault;
    const text = fromEnv ? env[fromEnv.name] : undefined;
    if (fromEnv && text !== undefined && text !== "") {
      try {
        config[setting.name] = fromEnv.value(text);
      } catch (error) {
        throw usageError(`Invalid value for "${fromEnv.name}": ${(error as Error).message} (got "${text}")`);
      }
      sources[setting.name] = "env";
    }
  }
  config.app = undefined;
  sources.app = "default";

  let action: Action = "serve";
  const fromCli = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") {
      action = "help";
      continue;
    }
    if (arg === "-v" || arg === "--version") {
      action = "version";
      continue;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    let name = arg;
    let inline: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      name = arg.slice(0, eq);
      inline = arg.slice(eq + 1);
    } else if (!arg.startsWith("--") && arg.length > 2) {
      name = arg.slice(0, 2);
      inline = arg.slice(2);
    }
    const setting = BY_FLAG.get(name);
    if (!setting) throw usageError(`Unknown option "${name}"`);
    let text: string;
    if (isSwitch(setting)) {
      text = inline ?? "true";
    } else if (inline !== undefined) {
      text = inline;
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw usageError(`Missing value for "${name}": expected ${setting.metavar}`);
      text = next;
      i++;
    }
    const value = valueOf(setting, name, text);
    if (setting.repeatable) {
      const list = fromCli.has(setting.name) ? (config[setting.name] as unknown[]) : [];
      config[setting.name] = [...list, value];
    } else {
      config[setting.name] = value;
    }
    fromCli.add(setting.name);
    sources[setting.name] = "cli";
  }
  if (positional.length > 1) {
    throw usageError(`Too many arguments: "${positional.join(" ")}": expected one APP`);
  }
  if (positional.length === 1) {
    config.app = positional[0];
    sources.app = "cli";
  }
  if (action === "serve" && config.app === undefined) {
    throw usageError("Missing APP: expected a module such as app.ts, app.ts:name or app.ts:create()");
  }
  return { action, config: config as unknown as Config, sources: sources as Record<keyof Config, Source> };
}
