#!/usr/bin/env node
// Run by `npm ci` / `npm install` in a checkout (npm's "prepare"): builds dist/ and installs the
// Node versions the packaging suite runs on (test/node-versions), unless they are there already.
// The package itself ships neither this script nor test/, so its "prepare" does nothing elsewhere.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
execFileSync(process.execPath, [path.join(root, "scripts/build.mjs")], { stdio: "inherit" });

const versions = path.join(root, "test/node-versions");
const manifest = JSON.parse(fs.readFileSync(path.join(versions, "package.json"), "utf8"));
const missing = Object.keys(manifest.devDependencies).filter((name) =>
  !fs.existsSync(path.join(versions, "node_modules", name, "bin/node"))
);
if (missing.length) {
  // npm_execpath: the npm that runs this script, whatever is first on PATH.
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm ? [process.execPath, [npm]] : ["npm", []];
  execFileSync(cmd, [...args, "ci", "--no-audit", "--no-fund", "--prefix", versions], { stdio: "inherit" });
}
