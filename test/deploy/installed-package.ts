/**
 * The package as a user installs it, for the deploy tests: `npm pack` of this checkout installed into
 * a fresh project outside the repository (test/package/package.test.ts does the same for its own).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../helpers/server.ts";

const run = promisify(execFile);
export const REPO_BIN = path.join(ROOT, "node_modules/.bin");

export interface Installed {
  /** The project folder, with node_modules/unicorn-http installed from the tarball. */
  readonly dir: string;
  /** Removes the project and the tarball. */
  remove(): void;
}

/** The environment of a user's shell: this Node, then bun and deno, on PATH; no npm script variables. */
export function userEnv(node = process.execPath): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith("npm_")) env[key] = value;
  env.PATH = `${path.dirname(node)}:${REPO_BIN}:${process.env.PATH}`;
  env.NO_COLOR = "1";
  return env;
}

/**
 * Packs this checkout (dist/ as built: `npm run build` first) and installs the tarball into a new
 * project whose package.json is `pkg`, with `files` written into it.
 */
export async function installPackage(pkg: Record<string, unknown>, files: Record<string, string>): Promise<Installed> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-deploy-pack-"));
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", out], { cwd: ROOT });
  const tarball = path.join(out, JSON.parse(stdout)[0].filename);
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-deploy-")), "app");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: dir, env: userEnv() });
  return {
    dir,
    remove() {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
      fs.rmSync(out, { recursive: true, force: true });
    },
  };
}

/** A TCP port free on loopback a moment ago. */
export async function freePort(): Promise<number> {
  const net = await import("node:net");
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
