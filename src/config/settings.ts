/**
 * The settings table: every setting declared once. The command line, `--help`,
 * the environment defaults and the resolved {@linkcode Config} are all derived
 * from it; adding a setting is one entry here and one field in `Config`.
 */
import { LOG_LEVELS, type LogLevel } from "../log/logger.ts";
import { parseBind, type BindAddress } from "./bind.ts";

/** The groups `--help` and the docs list settings under. */
export type Section = "Server socket" | "Worker processes" | "Timeouts" | "Logging";

/** The resolved configuration a process runs with. */
export interface Config {
  app: string | undefined;
  bind: BindAddress[];
  backlog: number;
  workers: number;
  reusePort: boolean | undefined;
  timeout: number;
  gracefulTimeout: number;
  logLevel: LogLevel;
}

/** The environment a setting may read a default from. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One row of the settings table. */
export interface Setting {
  /** The key in `Config` and in a config file. */
  readonly name: keyof Config;
  readonly section: Section;
  /** Command-line flags, short first. Empty for the positional `APP`. */
  readonly flags: readonly string[];
  /** The placeholder `--help` shows for the value; absent for a switch. */
  readonly metavar?: string;
  /** A flag that may repeat, each time adding to a list. */
  readonly repeatable?: boolean;
  /** One line of documentation. */
  readonly doc: string;
  /** The default as `--help` and the docs show it. */
  readonly defaultText: string;
  /** The default when neither the environment nor a flag sets it. */
  readonly default: unknown;
  /** An environment variable that replaces the default, as `PORT` and `WEB_CONCURRENCY` do. */
  readonly envDefault?: { readonly name: string; value(text: string): unknown };
  /** Turns the text of one flag occurrence into a value; throws a one-line message. */
  parse(text: string): unknown;
}

function wholeNumber(min: number): (text: string) => number {
  return (text) => {
    if (!/^\d+$/.test(text.trim()) || Number(text) < min) {
      throw new Error(`expected a whole number of at least ${min}`);
    }
    return Number(text);
  };
}

function seconds(text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0) {
    throw new Error("expected a number of seconds of at least 0");
  }
  return value;
}

function choice<T extends string>(choices: readonly T[]): (text: string) => T {
  return (text) => {
    const value = text.toLowerCase() as T;
    if (!choices.includes(value)) throw new Error(`expected one of ${choices.join(", ")}`);
    return value;
  };
}

function flag(text: string): boolean {
  if (["", "true", "1", "yes", "on"].includes(text.toLowerCase())) return true;
  if (["false", "0", "no", "off"].includes(text.toLowerCase())) return false;
  throw new Error("expected true or false");
}

/** The settings, in the order `--help` lists them. */
export const SETTINGS: readonly Setting[] = [
  {
    name: "bind",
    section: "Server socket",
    flags: ["-b", "--bind"],
    metavar: "ADDRESS",
    repeatable: true,
    doc: "Address to listen on: HOST:PORT, HOST, [IPV6]:PORT, unix:PATH or fd://N. Repeat for several.",
    defaultText: "127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set",
    default: [parseBind("127.0.0.1:8000")],
    envDefault: { name: "PORT", value: (text) => [parseBind(`0.0.0.0:${text}`)] },
    parse: parseBind,
  },
  {
    name: "backlog",
    section: "Server socket",
    flags: ["--backlog"],
    metavar: "INT",
    doc: "The most connections the kernel queues before refusing new ones.",
    defaultText: "2048",
    default: 2048,
    parse: wholeNumber(1),
  },
  {
    name: "reusePort",
    section: "Server socket",
    flags: ["--reuse-port"],
    doc: "Each worker binds its own SO_REUSEPORT socket and serves it with the runtime's native server. " +
      "The default on Bun and Deno; not available on Node before 22.12.",
    defaultText: "the runtime's default (see docs/listeners.md)",
    default: undefined,
    parse: flag,
  },
  {
    name: "workers",
    section: "Worker processes",
    flags: ["-w", "--workers"],
    metavar: "INT",
    doc: "The number of worker processes serving requests.",
    defaultText: "$WEB_CONCURRENCY or 1",
    default: 1,
    envDefault: { name: "WEB_CONCURRENCY", value: wholeNumber(1) },
    parse: wholeNumber(1),
  },
  {
    name: "timeout",
    section: "Timeouts",
    flags: ["-t", "--timeout"],
    metavar: "SECONDS",
    doc: "A worker whose event loop sends no heartbeat for this long is killed and replaced. 0 disables.",
    defaultText: "30",
    default: 30,
    parse: seconds,
  },
  {
    name: "gracefulTimeout",
    section: "Timeouts",
    flags: ["--graceful-timeout"],
    metavar: "SECONDS",
    doc: "On TERM, how long workers may finish in-flight requests before they are killed.",
    defaultText: "30",
    default: 30,
    parse: seconds,
  },
  {
    name: "logLevel",
    section: "Logging",
    flags: ["--log-level"],
    metavar: "LEVEL",
    doc: `The least severe level written to the error log: ${LOG_LEVELS.join(", ")}.`,
    defaultText: "info",
    default: "info",
    parse: choice(LOG_LEVELS),
  },
];
