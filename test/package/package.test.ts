/**
 * The package as users get it: `npm pack`, installed into a fresh project outside the repository,
 * under a path with a space and an "é", then started the way README says on Node (every version
 * in test/node-versions besides the one running the tests), Bun and Deno, and from a simulated JSR.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { request } from "../helpers/http.ts";
import { serveAsJsr } from "../helpers/jsr.ts";
import { killAll, ROOT, Server, waitGone } from "../helpers/server.ts";
import { WebSocketClient } from "../helpers/websocket.ts";

const run = promisify(execFile);
const BIN = path.join(ROOT, "node_modules/.bin");
const TEMPLATE = path.join(ROOT, "test/package/project");
const NODE_VERSIONS = path.join(ROOT, "test/node-versions/node_modules");

let project = "";
let tarball = "";
let packed: { size: number; unpackedSize: number; files: { path: string }[] };

/** The Node versions to run on: this one, and the others installed for the suite. */
function nodes(): [string, string][] {
  const others = fs.existsSync(NODE_VERSIONS) ? fs.readdirSync(NODE_VERSIONS).filter((n) => /^node\d+$/.test(n)) : [];
  const list: [string, string][] = [[`node ${process.versions.node}`, process.execPath]];
  for (const name of others) {
    const bin = path.join(NODE_VERSIONS, name, "bin/node");
    if (!process.version.startsWith(`v${name.slice(4)}.`)) list.push([name, bin]);
  }
  return list;
}

/** The environment of a user's shell: this Node first on PATH, no npm script variables. */
function userEnv(node = process.execPath): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith("npm_")) env[key] = value;
  env.PATH = `${path.dirname(node)}:${BIN}:${process.env.PATH}`;
  env.NO_COLOR = "1";
  return env;
}

/** README's launch commands, run from the project. */
const LAUNCH = {
  node: () => [path.join(project, "node_modules/.bin/unicorn")],
  bun: () => [path.join(BIN, "bunx"), "--bun", "unicorn"],
  deno: () => [path.join(BIN, "deno"), "run", "-A", "npm:unicorn-http"],
} as const;

function start(command: string[], args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Server {
  return new Server("node", [...args, "-b", "127.0.0.1:0"], {
    command,
    cwd: options.cwd ?? project,
    env: options.env ?? userEnv(),
  });
}

async function body(server: Server, target = "/"): Promise<string> {
  const url = await server.ready();
  return (await request(`${url}${target}`)).body;
}

beforeAll(async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-pack-"));
  // dist/ is built by `npm test` before the suites run; packing must not rebuild it under them.
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", out], { cwd: ROOT });
  packed = JSON.parse(stdout)[0];
  tarball = path.join(out, fs.readdirSync(out).find((f) => f.endsWith(".tgz"))!);
  project = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "unicorn user é-")), "My Projects", "app");
  fs.mkdirSync(project, { recursive: true });
  fs.cpSync(TEMPLATE, project, { recursive: true });
  // A project as `npm init -y` leaves it: no "type", so .js and .ts files are CommonJS to Node.
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  for (const [scope, type] of [["esm", "module"], ["cjs", "commonjs"]] as const) {
    fs.mkdirSync(path.join(project, scope));
    for (const file of ["app.ts", "greet.ts"]) fs.copyFileSync(path.join(TEMPLATE, file), path.join(project, scope, file));
    fs.copyFileSync(path.join(TEMPLATE, "esm.config.mjs"), path.join(project, scope, "esm.config.js"));
    fs.writeFileSync(path.join(project, scope, "package.json"), JSON.stringify({ type }));
  }
  const { hono, express } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).devDependencies;
  // Node-style apps as PM2 users have them: CommonJS Express, and a bare (req, res) listener.
  fs.writeFileSync(
    path.join(project, "express-app.cjs"),
    'const express = require("express");\nconst app = express();\n' +
      'app.get("/", (req, res) => res.json({ express: true, ip: req.ip }));\nmodule.exports = app;\n',
  );
  fs.writeFileSync(path.join(project, "listener.mjs"), 'export default (req, res) => res.end(`listener ${req.url}`);\n');
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, `hono@${hono}`, `express@${express}`], {
    cwd: project,
    env: userEnv(),
  });
}, 180_000);

afterAll(() => {
  if (project) fs.rmSync(path.dirname(path.dirname(project)), { recursive: true, force: true });
  if (tarball) fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
});

afterEach(killAll);

test("the tarball holds built JavaScript, types, README and LICENSE, and no TypeScript source", () => {
  const files = packed.files.map((f) => f.path);
  for (const file of ["bin/unicorn.mjs", "dist/mod.mjs", "dist/mod.cjs", "dist/types/mod.d.ts", "LICENSE", "README.md"]) {
    expect(files).toContain(file);
  }
  for (const runtime of ["node", "bun", "deno"]) {
    expect(files).toContain(`dist/${runtime}/main.mjs`);
    expect(files).toContain(`dist/${runtime}/worker.mjs`);
  }
  expect(files.filter((f) => /\.(ts|mts|cts)$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
  console.info(`tarball: ${packed.files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`);
});

describe.each(["node", "bun", "deno"] as const)("installed, on %s", (runtime) => {
  const launch = () => LAUNCH[runtime]();
  // Deno resolves extensionless imports only with --sloppy-imports, which the user gives (and workers inherit).
  const tsLaunch = () => (runtime === "deno" ? [...launch().slice(0, 2), "--sloppy-imports", ...launch().slice(2)] : launch());

  test("README's launch command serves a JavaScript, a TypeScript and a Hono app", async () => {
    const js = start(launch(), ["app.mjs"]);
    const ts = start(tsLaunch(), ["app.ts", "-w", "2"]);
    const hono = start(launch(), ["hono.ts"]);
    expect(await body(js, "/x")).toBe("js /x");
    expect(await body(ts)).toBe("ts hello plain");
    expect(await body(hono, "/user/ada")).toBe('{"name":"ada"}');
    expect(js.log).toMatch(new RegExp(`Starting unicorn [\\d.]+ on ${runtime} `));
  });

  test("Node-style apps serve: CommonJS Express behind a trusted proxy, and a (req, res) listener", async () => {
    const app = start(launch(), ["express-app.cjs", "--forwarded-allow-ips", "127.0.0.1"]);
    const listener = start(launch(), ["listener.mjs"]);
    const url = await app.ready();
    expect((await request(`${url}/`, { headers: { "x-forwarded-for": "203.0.113.5" } })).body).toBe('{"express":true,"ip":"203.0.113.5"}');
    expect(await body(listener, "/a?b")).toBe("listener /a?b");
    expect(app.log).toMatch(/App: an Express app; served by node:http/);
    expect(listener.log).toMatch(/App: a function \(req, res\), read as a Node request listener/);
  });

  test("upgradeWebSocket from the package: a WebSocket on every engine of the runtime (its ws inlined or resolved)", async () => {
    const engines = runtime === "node" ? [[]] : [[], ["--engine", runtime === "bun" ? "node" : "native"]];
    for (const engine of engines) {
      const server = start(launch(), ["websocket.mjs", ...engine]);
      const url = await server.ready();
      const ws = await WebSocketClient.open(Number(new URL(url).port), "/ws");
      expect((await ws.next()).text, engine.join(" ")).toBe("welcome");
      ws.send("from the package");
      expect((await ws.next()).text).toBe("echo from the package");
      ws.destroy();
      server.signal("SIGTERM");
      await server.exited();
    }
  });

  test("unicorn ctl from the package talks to the server", async () => {
    const socket = path.join(project, `${runtime}.ctl`);
    const server = start(launch(), ["app.mjs", "--control-socket", socket]);
    await server.ready();
    const [cmd, ...args] = launch();
    const { stdout } = await run(cmd!, [...args, "ctl", "--socket", socket, "status", "--json"], { cwd: project, env: userEnv() });
    // The arbiter's pid, as its log says it (bunx runs it as a child of its own).
    const arbiter = Number((await server.waitFor(/Listening at: \S+ \((\d+)\)/))[1]);
    expect(JSON.parse(stdout)).toMatchObject({ pid: arbiter, workers: 1, serving: 1 });
  });

  test("configs that import unicorn-http load: .mjs, .js in an ES package, .ts, and .cjs with require", async () => {
    const configs = ["esm.config.mjs", "esm/esm.config.js", "typed.config.ts", "required.config.cjs"];
    for (const config of configs) {
      const [cmd, ...args] = launch();
      const { stdout } = await run(cmd!, [...args, "-c", config, "--print-config", "app.mjs"], { cwd: project, env: userEnv() });
      expect(stdout, config).toMatch(/^workers\s*=\s*3\s+# file\b/m);
    }
    const server = start(launch(), ["-c", "typed.config.ts", "app.mjs"]);
    await server.ready(3);
    expect(server.log).toMatch(/typed config hook/);
  });

  test("a syntax error in the app is reported once, with its file, line, column and source line", async () => {
    fs.writeFileSync(path.join(project, "broken.mjs"), 'const a = 1;\nconsole.log("x" a);\nexport default {};\n');
    const server = start(launch(), ["broken.mjs", "-w", "3"]);
    expect((await server.exited()).code).toBe(4);
    const reports = server.lines.filter((l) => l.includes('Cannot import app "broken.mjs"'));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain(`${path.join(project, "broken.mjs")}:2:`);
    expect(server.log).toContain('    2 | console.log("x" a);');
  });
});

describe("installed, on each Node version", () => {
  test.each(nodes())("%s serves a TypeScript app in an ESM, a CommonJS and an untyped package, and loads a typed config", async (_name, node) => {
    for (const scope of ["esm", "cjs", "."]) {
      const server = start([node, path.join(project, "node_modules/.bin/unicorn")], [path.join(scope, "app.ts")], {
        env: userEnv(node),
      });
      expect(await body(server), scope).toBe("ts hello plain");
      expect(server.log).toMatch(/The app is TypeScript, loaded through tsx/);
      const booted = /booted in (\d+) ms/.exec(server.log)?.[1];
      console.info(`${_name}, ${scope} package, tsx: worker booted in ${booted} ms`);
      server.signal("SIGTERM");
      await server.exited();
    }
    const { stdout } = await run(node, [path.join(project, "node_modules/.bin/unicorn"), "-c", "typed.config.ts", "--print-config", "app.mjs"], {
      cwd: project,
      env: userEnv(node),
    });
    expect(stdout).toMatch(/^workers\s*=\s*3\s+# file\b/m);
    // Node 22.18 and later strip types themselves; tsx is only the fallback there.
    const major = Number((_name.match(/\d+/) ?? ["20"])[0]);
    const stripped = start([node, path.join(project, "node_modules/.bin/unicorn")], ["strip.ts"], { env: userEnv(node) });
    expect(await body(stripped)).toBe("ts hello stripped");
    const loader = /loaded through (.+)/.exec(stripped.log)?.[1] ?? "";
    expect(loader).toMatch(major >= 22 ? /^Node's type stripping/ : /^tsx/);
    console.info(`${_name}, strip-only TypeScript, ${loader}: worker booted in ${/booted in (\d+) ms/.exec(stripped.log)?.[1]} ms`);
  });

  test("a consumer's tsc --init project type-checks a typed config with no error from the package", async () => {
    const consumer = path.join(project, "typecheck");
    fs.mkdirSync(consumer);
    // An ES module project, as tsc --init's verbatimModuleSyntax expects of a file with imports.
    fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ type: "module" }));
    fs.copyFileSync(path.join(project, "typed.config.ts"), path.join(consumer, "unicorn.config.ts"));
    const tsc = [path.join(ROOT, "node_modules/typescript/bin/tsc")];
    const check = () => run(process.execPath, [...tsc, "--noEmit", "-p", "."], { cwd: consumer }).catch((e) => e);
    await run(process.execPath, [...tsc, "--init"], { cwd: consumer });
    const clean = await check();
    expect(`${clean.stdout ?? ""}${clean.stderr ?? ""}`).toBe("");
    // The types are real: a wrong value is an error in the consumer's file, and only there.
    fs.writeFileSync(path.join(consumer, "wrong.config.ts"), 'import { defineConfig } from "unicorn-http";\nexport default defineConfig({ workers: "four" });\n');
    const wrong = await check();
    expect(wrong.stdout).toMatch(/^wrong\.config\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(wrong.stdout.trim().split("\n")).toHaveLength(1);
  });

  test("SIGTERM to npx, which does not pass it on, stops the arbiter and its workers", async () => {
    const server = start(["npx", "--no-install", "unicorn"], ["app.mjs", "-w", "2"]);
    await server.ready(2);
    expect(server.log).toMatch(/Started by npm/);
    const workers = server.workerPids();
    const arbiter = Number(/Listening at: \S+ \((\d+)\)/.exec(server.log)![1]);
    server.signal("SIGTERM");
    expect(await waitGone([arbiter, ...workers], 10_000)).toEqual([]);
  });
});

describe("installed, on Deno", () => {
  test("workers get the permissions and flags the arbiter was given, not -A", async () => {
    const deno = path.join(BIN, "deno");
    const narrow = ["run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run", "--allow-sys"];
    const limited = start([deno, ...narrow, "npm:unicorn-http"], ["permissions.mjs"]);
    expect(await body(limited)).toBe("net=granted read=granted ffi=prompt");
    const all = start(LAUNCH.deno(), ["permissions.mjs"]);
    expect(await body(all)).toBe("net=granted read=granted ffi=granted");
    // --config names a deno.json with sloppy imports: the TS app's extensionless import resolves in the workers.
    const configured = start([deno, "run", "-A", "--config", "deno.sloppy.json", "npm:unicorn-http"], ["app.ts"]);
    expect(await body(configured)).toBe("ts hello plain");
  });

  test("deno publish --dry-run passes", async () => {
    const { stderr } = await run(path.join(BIN, "deno"), ["publish", "--dry-run", "--allow-dirty"], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
    });
    expect(stderr).toMatch(/Success Dry run complete/);
  }, 60_000);

  test("served as JSR serves it, unicorn runs as a remote module, workers and a config importing it included", async () => {
    const jsr = await serveAsJsr();
    const denoProject = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn deno é-"));
    try {
      fs.copyFileSync(path.join(TEMPLATE, "app.mjs"), path.join(denoProject, "app.mjs"));
      fs.writeFileSync(
        path.join(denoProject, "unicorn.config.ts"),
        `import { defineConfig } from "${jsr.url}/mod.ts";\nexport default defineConfig({ workers: 2 });\n`,
      );
      const env = { ...userEnv(), DENO_DIR: path.join(denoProject, ".deno") };
      const server = start([path.join(BIN, "deno"), "run", "-A", `${jsr.url}/mod.ts`], ["app.mjs"], { cwd: denoProject, env });
      const url = await server.ready(2);
      expect((await request(`${url}/remote`)).body).toBe("js /remote");
      expect(server.log).toMatch(/on deno /);
    } finally {
      await killAll();
      await jsr.close();
      fs.rmSync(denoProject, { recursive: true, force: true });
    }
  }, 120_000);
});
