#!/usr/bin/env node
// Fails when src/ names a runtime, when the backends' file names differ, or
// when the version is not the same in package.json, deno.json and src/version.ts, or when the npm and
// JSR entry points drift apart.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const problems = [];

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? files(full) : full.endsWith(".ts") ? [full] : [];
  });
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

function stripStrings(text) {
  return text.replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
}

// Identifiers are looked for outside strings (messages may name a runtime); module specifiers inside them.
const IDENTIFIERS = [
  [/\bprocess\b/, "process"],
  [/\bDeno\b/, "Deno"],
  [/\bBun\b/, "Bun"],
  [/\bBuffer\b/, "Buffer"],
  [/\brequire\s*\(/, "require()"],
];
const SPECIFIERS = [[/["']node:[a-z_/]+["']/, "a node: module"]];
for (const file of files(path.join(root, "src"))) {
  const code = stripComments(fs.readFileSync(file, "utf8"));
  const report = (text, rules) =>
    text.split("\n").forEach((line, index) => {
      for (const [pattern, name] of rules) {
        if (pattern.test(line)) problems.push(`${path.relative(root, file)}:${index + 1} names ${name}`);
      }
    });
  report(stripStrings(code), IDENTIFIERS);
  report(code, SPECIFIERS);
}

// No import cycle in src/, type-only imports and inline import("...") types included: a cycle hides
// which module is the lower layer.
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;
const graph = new Map();
for (const file of files(path.join(root, "src"))) {
  const code = stripComments(fs.readFileSync(file, "utf8"));
  const targets = new Set();
  for (const match of code.matchAll(IMPORT)) targets.add(path.resolve(path.dirname(file), match[1] ?? match[2]));
  graph.set(file, [...targets].filter((target) => target.startsWith(path.join(root, "src"))));
}
const state = new Map();
const cycles = [];
function visit(file, trail) {
  if (state.get(file) === "done") return;
  if (state.get(file) === "open") {
    cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(root, f)).join(" -> "));
    return;
  }
  state.set(file, "open");
  for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
  state.set(file, "done");
}
for (const file of graph.keys()) visit(file, []);
for (const cycle of cycles) problems.push(`an import cycle in src/: ${cycle}`);

const BACKEND_FILES = ["main.ts", "mod.ts", "serve.ts", "worker.ts"];
for (const backend of ["node", "bun", "deno"]) {
  for (const name of BACKEND_FILES) {
    if (!fs.existsSync(path.join(root, "runtimes", backend, name))) {
      problems.push(`runtimes/${backend}/${name} is missing: every backend has ${BACKEND_FILES.join(", ")}`);
    }
  }
}

const pkgJson = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const denoJson = JSON.parse(fs.readFileSync(path.join(root, "deno.json"), "utf8"));
const pkg = pkgJson.version;
const deno = denoJson.version;
// npm ships dist/mod.* built from JSR's entry point (scripts/build.mjs reads deno.json's exports),
// for import, require and types; JSR ships the TypeScript itself.
const jsrEntry = typeof denoJson.exports === "string" ? denoJson.exports : denoJson.exports?.["."];
const npmEntry = pkgJson.exports?.["."] ?? {};
const expected = { types: "./dist/types/mod.d.ts", import: "./dist/mod.mjs", require: "./dist/mod.cjs" };
for (const [condition, target] of Object.entries(expected)) {
  if (npmEntry[condition] !== target) problems.push(`package.json exports["."].${condition} is "${npmEntry[condition]}", expected "${target}"`);
}
if (path.normalize(jsrEntry ?? "") !== "mod.ts") problems.push(`deno.json exports "${jsrEntry}", expected "./mod.ts"`);
// JSR rewrites the bare specifiers through deno.json's imports: the same versions as npm's dependencies.
for (const [specifier, target] of Object.entries(denoJson.imports ?? {})) {
  const [, name, range] = /^npm:(@?[^@/]+(?:\/[^@/]+)?)@([^/]+)/.exec(target) ?? [];
  if (!name || pkgJson.dependencies?.[name] !== range) {
    problems.push(`deno.json maps "${specifier}" to "${target}"; package.json depends on ${name} "${pkgJson.dependencies?.[name]}"`);
  }
}
if (!fs.existsSync(path.join(root, "LICENSE"))) problems.push("LICENSE is missing: package.json and deno.json declare MIT");
const src = /VERSION = "([^"]+)"/.exec(fs.readFileSync(path.join(root, "src/version.ts"), "utf8"))?.[1];
if (pkg !== deno || pkg !== src) {
  problems.push(`versions differ: package.json ${pkg}, deno.json ${deno}, src/version.ts ${src}`);
}

if (problems.length) {
  for (const problem of problems) console.error(`check-boundaries: ${problem}`);
  process.exit(1);
}
console.log("check-boundaries: src/ names no runtime and has no import cycle; backends, versions and npm/JSR exports agree");
