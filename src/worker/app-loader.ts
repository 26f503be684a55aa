/**
 * Turns `APP` (`path/to/module.ts`, `module.ts:name`, `module.ts:factory()`)
 * into what a worker serves: a Fetch handler, or a Node request listener.
 */
import { ExitCode, messageOf, UnicornError } from "../errors.ts";
import type { FetchHandler, ImportedModule, ImportOptions, NodeListener, Runtime, UpgradeListener } from "../runtime.ts";
import { describeLoadFailure } from "../load/failure.ts";
import { importForLoad, moduleExports } from "../load/import.ts";
import { requestIpServer } from "../http/client.ts";

/** A parsed `APP`. */
export interface AppSpec {
  readonly path: string;
  readonly name: string;
  readonly factory: boolean;
}

/**
 * Splits `APP` into the module path, the export name and whether it is a factory.
 *
 * @example
 * ```ts
 * parseAppSpec("src/app.ts:create()"); // { path: "src/app.ts", name: "create", factory: true }
 * ```
 */
export function parseAppSpec(text: string): AppSpec {
  const match = /^(.+?)(?::([A-Za-z_$][\w$]*)(\(\))?)?$/.exec(text);
  if (!match || match[1] === undefined || match[1].endsWith(":")) {
    throw new UnicornError(
      `Cannot load app "${text}": expected path/to/module.ts, module.ts:name or module.ts:factory()`,
      ExitCode.USAGE,
    );
  }
  return { path: match[1], name: match[2] ?? "default", factory: match[3] !== undefined };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const keys = Object.keys(value as object).slice(0, 5);
    return keys.length ? `an object with keys ${keys.join(", ")}` : "an empty object";
  }
  return `a ${typeof value}`;
}

/** Returns the Fetch handler an export stands for, or undefined when it is not one. */
export function toHandler(value: unknown): FetchHandler | undefined {
  if (typeof value === "function") return value as FetchHandler;
  if (value !== null && typeof value === "object" && typeof (value as { fetch?: unknown }).fetch === "function") {
    const app = value as { fetch: FetchHandler };
    return app.fetch.bind(app);
  }
  return undefined;
}

/** What kind of app `APP` is (`--interface`). */
export type AppInterface = "fetch" | "node";

/** An app as a worker serves it: a Fetch handler or a Node request listener, and what it was found to be. */
export type ServableApp =
  | { readonly interface: "fetch"; readonly handler: FetchHandler; readonly what: string; readonly websocket?: unknown }
  | {
    readonly interface: "node";
    readonly listener: NodeListener;
    readonly what: string;
    readonly upgrade?: UpgradeListener;
    /** Served over HTTP/2 too (node:http2's compatibility objects), where the engine can: Koa, Fastify, a plain listener; not Express. */
    readonly http2?: boolean;
  };

type Fn = (...args: unknown[]) => unknown;
const has = (value: unknown, ...names: string[]): boolean =>
  value !== null && (typeof value === "object" || typeof value === "function") &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === "function");

/** The parameter names of a plain function, as its source gives them (`(req, res) => ...` gives req, res). */
function parameterNames(fn: Fn): string[] {
  const source = Function.prototype.toString.call(fn);
  const match = /^(?:async\s*)?(?:function\b[^(]*)?\(([^)]*)\)/.exec(source) ?? /^(?:async\s+)?([\w$]+)\s*=>/.exec(source);
  if (!match) return [];
  return match[1]!.split(",").map((part) => part.trim().replace(/[\s=:].*$/s, "")).filter(Boolean);
}

/** A second parameter with one of these names makes a plain function read as a Node request listener. */
const RESPONSE_NAMES = /^(res|resp|response|reply|outgoing|serverResponse)$/i;

/**
 * Tells what kind of app an export is, by its shape, and makes it servable (a Fastify app is made
 * ready, a NestJS app initialised). `choice` is `--interface`. Undefined when it is no app at all.
 *
 * | shape | served as |
 * | --- | --- |
 * | has `fetch()` (Hono, Elysia, h3, itty-router, `{ fetch }`) | fetch |
 * | has `getHttpAdapter()` (NestJS) | its adapter's instance, initialised |
 * | has `routing()` and `ready()` (Fastify) | node: `routing(req, res)` once ready |
 * | has `callback()` and `use()` (Koa) | node: `callback()` |
 * | has `listen()`, `emit()` and `listeners()` (an `http.Server`) | node: its "request" event |
 * | a function with `handle()` and `use()` (Express, connect) | node |
 * | another function | by `--interface`; under auto, node if its second parameter is named `res` or `response` |
 *
 * HTTP/2 (node:http2's compatibility request and response) is offered to Koa, Fastify and plain
 * listeners; Express and connect replace the request's prototype with http.IncomingMessage's and fail
 * on an HTTP/2 request (an uncaught error, measured with Express 5), and an http.Server may hold either:
 * those are served HTTP/1.1 only.
 */
export async function toServable(value: unknown, choice: AppInterface | "auto", depth = 0): Promise<ServableApp | undefined> {
  // An object that answers every name (itty-router's routers are Proxies) is judged by fetch alone.
  const answersAll = has(value, "\u0000unicorn-probe");
  if (has(value, "fetch") && (typeof value === "object" || answersAll)) {
    if (choice === "node") return undefined;
    const app = value as { server?: unknown };
    // Elysia reads its own `server` (set by listen(), which unicorn does not call) for server.requestIP().
    if (!answersAll && has(app, "getServer") && app.server === null) app.server = requestIpServer;
    // Bun's shape for WebSockets: `export default { fetch, websocket }` (Hono's `websocket` from hono/bun too).
    const websocket = answersAll ? undefined : (value as { websocket?: unknown }).websocket;
    return { interface: "fetch", handler: toHandler(value)!, what: "an object with fetch(request)", ...(websocket ? { websocket } : {}) };
  }
  if (answersAll) return undefined;
  if (has(value, "getHttpAdapter") && depth === 0) {
    const nest = value as { init?: () => Promise<unknown>; getHttpAdapter(): { getInstance(): unknown } };
    await nest.init?.();
    const inner = await toServable(nest.getHttpAdapter().getInstance(), choice === "fetch" ? "auto" : choice, depth + 1);
    return inner && { ...inner, what: `a NestJS app (through ${inner.what})` };
  }
  if (choice !== "fetch") {
    if (has(value, "routing", "ready")) {
      const fastify = value as { ready(): Promise<unknown>; routing: NodeListener };
      await fastify.ready();
      return { interface: "node", listener: (req, res) => fastify.routing(req, res), what: "a Fastify app", http2: true };
    }
    if (has(value, "callback", "use")) {
      const koa = value as { callback(): NodeListener };
      return { interface: "node", listener: koa.callback(), what: "a Koa app", http2: true };
    }
  }
  if (choice !== "fetch" && typeof value === "object" && has(value, "listen", "emit", "listeners")) {
    const server = value as { emit(event: string, ...args: unknown[]): boolean; listenerCount(event: string): number };
    // Its "upgrade" listeners, as `new WebSocketServer({ server })` (ws) attaches them, take WebSockets over.
    const upgrade: UpgradeListener | undefined = server.listenerCount("upgrade") > 0
      ? (req, socket, head) => void server.emit("upgrade", req, socket, head)
      : undefined;
    return {
      interface: "node",
      listener: (req, res) => void server.emit("request", req, res),
      what: upgrade ? "an http.Server with upgrade listeners" : "an http.Server",
      ...(upgrade ? { upgrade } : {}),
    };
  }
  if (typeof value !== "function") return undefined;
  if (has(value, "handle", "use")) {
    if (choice === "fetch") return undefined;
    return { interface: "node", listener: value as NodeListener, what: has(value, "set", "engine") ? "an Express app" : "a connect app" };
  }
  const params = parameterNames(value as Fn);
  const looksNode = params.length >= 2 && RESPONSE_NAMES.test(params[1]!);
  const which = choice === "auto" ? (looksNode ? "node" : "fetch") : choice;
  const signature = `(${params.join(", ")})`;
  if (which === "node") {
    return {
      interface: "node",
      listener: value as NodeListener,
      http2: true,
      what: choice === "node" ? `a Node request listener ${signature}` :
        `a function ${signature}, read as a Node request listener by its parameters (say --interface fetch if it takes a Request)`,
    };
  }
  return {
    interface: "fetch",
    handler: toHandler(value)!,
    what: choice === "fetch" || params.length < 2 ? `a function ${signature} => Response` :
      `a function ${signature}, read as a Fetch handler (say --interface node if it is a Node request listener (req, res))`,
  };
}

/** An app once loaded: what it serves, and the loader that compiled it where the runtime had a choice. */
export interface LoadedApp {
  readonly app: ServableApp;
  readonly loader?: ImportedModule["loader"];
}

/** The error for an export that is no app of the kind asked for. */
export function notAnApp(where: string, value: unknown, choice: AppInterface | "auto"): UnicornError {
  const expected = choice === "node"
    ? "a Node request listener (req, res), an Express, Koa, Fastify or NestJS app, or an http.Server (--interface node)"
    : choice === "fetch"
    ? "an object with a fetch(request) method or a function (request) => Response (--interface fetch)"
    : "a Fetch handler ({ fetch(request) } or (request) => Response) or a Node-style app (Express, Koa, Fastify, (req, res))";
  return new UnicornError(`Cannot load app ${where}: it is ${describe(value)}; expected ${expected}`, ExitCode.APP_LOAD_ERROR);
}

/**
 * Imports the module, picks the export, awaits the factory, checks the shape.
 *
 * An import failure or a wrong shape throws with exit code 4; a factory that
 * throws, with exit code 3 (the worker failed to boot).
 */
export async function loadApp(
  text: string,
  runtime: Runtime,
  cwd: string,
  options?: ImportOptions & { readonly interface?: AppInterface | "auto" },
): Promise<LoadedApp> {
  const spec = parseAppSpec(text);
  const path = runtime.resolvePath(cwd, spec.path);
  if (!runtime.fileExists(path)) {
    throw new UnicornError(`Cannot load app "${text}": no file at "${path}"`, ExitCode.APP_LOAD_ERROR);
  }
  const imported = await importForLoad(runtime, path, `app "${text}"`, ExitCode.APP_LOAD_ERROR, options);
  const module = moduleExports(imported.exports);
  if (!(spec.name in module)) {
    const names = Object.keys(module);
    throw new UnicornError(
      `Cannot load app "${text}": the module has no export "${spec.name}"` +
        (names.length ? ` (it exports ${names.join(", ")})` : " (it exports nothing)"),
      ExitCode.APP_LOAD_ERROR,
    );
  }
  let value = module[spec.name];
  if (spec.factory) {
    if (typeof value !== "function") {
      throw new UnicornError(
        `Cannot load app "${text}": "${spec.name}" is ${describe(value)}, not a factory function`,
        ExitCode.APP_LOAD_ERROR,
      );
    }
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      const failure = describeLoadFailure(error, (url) => runtime.fileFromUrl(url));
      const where = failure.location ? ` (${failure.location.file}:${failure.location.line}:${failure.location.column})` : "";
      throw new UnicornError(`Cannot boot app "${text}": the factory threw: ${messageOf(error)}${where}`,
        ExitCode.WORKER_BOOT_ERROR, { cause: error });
    }
  }
  const choice = options?.interface ?? "auto";
  let app: ServableApp | undefined;
  try {
    app = await toServable(value, choice);
  } catch (error) {
    throw new UnicornError(`Cannot boot app "${text}": getting it ready failed: ${messageOf(error)}`, ExitCode.WORKER_BOOT_ERROR, {
      cause: error,
    });
  }
  if (!app) throw notAnApp(`"${text}": "${spec.name}"`, value, choice);
  return { app, loader: imported.loader };
}
