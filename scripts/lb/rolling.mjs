#!/usr/bin/env node
// Two unicorn instances behind a load balancer on loopback, under continuous load (kept-alive and fresh
// connections, GETs and 1 KiB POSTs): a rolling restart of both (each leaves the balancer, gets TERM,
// starts again, and is back in the balancer before the other goes), then a rolling HUP. Prints what was
// sent, what failed (and during which step), and how long each instance took to drain; exits 1 if any
// request failed.
//
//   node scripts/lb/rolling.mjs [--runtime node|bun|deno] [--engine auto|native|node]
//     [--balancer nginx|haproxy] [--steps restart,hup] [--workers 2] [--rounds 1] [--json]
//
// How an instance leaves the balancer before its listener closes (docs/deploy.md):
// - haproxy: by itself. HAProxy checks GET /healthz every 200 ms (out after 2 failures, a check may take
//   1 s); unicorn runs with --shutdown-delay 1.5, so on TERM the health answer turns 503, HAProxy stops
//   sending within ~0.5 s, and the listener closes 1.5 s after TERM with nothing arriving on it. The rule:
//   --shutdown-delay above fall × inter plus a check's duration.
// - nginx: it cannot. Open-source nginx has no active health checks: it learns that an instance left when
//   a connection to it is refused, and keeps sending until its listener closes. The last listener of an
//   instance to close resets the connections the kernel queued on it and had not handed over yet (Linux
//   moves them to another listener of the same port only while one is open: net.ipv4.tcp_migrate_req),
//   and nginx does not retry a POST it has sent: a plain TERM can lose a few POSTs on any server, more
//   when the server's drain makes nginx open new connections while the listener is still open (figures
//   in docs/deploy.md). Marking the server `down` and reloading nginx first moves the loss to nginx's own
//   side: its old workers close their idle client connections as clients send on them (measured: 6 to 11
//   resets per rolling pass). HUP loses nothing: the new workers' listeners are open before the old close.
//
// Needs nginx (Debian: nginx-light) or HAProxy (Debian: haproxy). LB_KEEP=1 keeps the balancer's folder.

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../bench/measure.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    engine: { type: "string", default: "auto" },
    balancer: { type: "string", default: "nginx" },
    steps: { type: "string", default: "restart,hup" },
    workers: { type: "string", default: "2" },
    rounds: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const LAUNCH = {
  node: [process.execPath, path.join(ROOT, "bin/unicorn.mjs")],
  bun: [path.join(BIN, "bun"), path.join(ROOT, "mod.ts")],
  deno: [path.join(BIN, "deno"), "run", "-A", path.join(ROOT, "mod.ts")],
};
const launch = LAUNCH[values.runtime];
if (!launch) fatal(`--runtime must be node, bun or deno, not ${values.runtime}`);
if (!["nginx", "haproxy"].includes(values.balancer)) fatal(`--balancer must be nginx or haproxy, not ${values.balancer}`);
const steps = new Set(values.steps.split(","));
if (![...steps].every((s) => s === "restart" || s === "hup")) fatal(`--steps takes restart and hup, not ${values.steps}`);
const say = (line) => values.json || console.error(line);

function fatal(message) {
  console.error(`rolling.mjs: ${message}`);
  process.exit(2);
}

function waitFor(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = async () => {
      let value;
      try {
        value = await check();
      } catch {
        value = undefined;
      }
      if (value) return resolve(value);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 50);
    };
    void poll();
  });
}

/** GET on a fresh connection: status and body (0 and "" when it failed). */
function get(port, target) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: target, agent: false }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", () => resolve({ status: 0, text: "" }));
  });
}

/** One unicorn instance: its process, its log, and how to wait on it. */
class Instance {
  constructor(name, port) {
    this.name = name;
    this.port = port;
    this.log = "";
  }
  start() {
    const [cmd, ...args] = launch;
    this.log = "";
    // --keep-alive 75 outlives both balancers' upstream idle timeouts (60 s): the balancer, not unicorn,
    // closes an idle pooled connection, so it never sends on one unicorn is closing.
    const extra = values.balancer === "haproxy" ? ["--shutdown-delay", "1.5"] : [];
    this.child = spawn(cmd, [...args, path.join(ROOT, "scripts/lb/app.mjs"), "-b", `127.0.0.1:${this.port}`, "-w", values.workers,
      "--engine", values.engine, "--health-path", "/healthz", "--keep-alive", "75", "--graceful-timeout", "20",
      "--no-control-socket", ...extra], {
      cwd: ROOT,
      env: { ...process.env, npm_lifecycle_event: undefined, npm_command: undefined, LB_INSTANCE: this.name },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const add = (chunk) => (this.log += chunk);
    this.child.stdout.on("data", add);
    this.child.stderr.on("data", add);
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }
  serving() {
    return waitFor(`${this.name} serving`, async () => (await get(this.port, "/healthz")).status === 200);
  }
  count(pattern) {
    return (this.log.match(pattern) ?? []).length;
  }
}

/** Children of a process and their command lines, from /proc. */
function childrenOf(pid) {
  const found = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) !== pid) continue;
      found.push({ pid: Number(entry), cmdline: fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ") });
    } catch {}
  }
  return found;
}

/** Starts a balancer's process for `balancer` (its child, stderr, exit) and waits until it answers. */
async function startBalancer(balancer, command, args) {
  balancer.child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  balancer.err = "";
  balancer.child.stderr.on("data", (c) => (balancer.err += c));
  balancer.exited = new Promise((resolve) => balancer.child.on("exit", resolve));
  await waitFor(command, async () => (await get(balancer.port, "/")).status === 200, 10_000).catch((error) => {
    throw new Error(`${error.message}: ${balancer.err}`);
  });
}

/**
 * nginx as a balancer is usually set up: upstream keep-alive over HTTP/1.1, retries on connection
 * errors (a POST once sent is never retried), upstream keep-alive (60 s) shorter than unicorn's (75 s).
 */
class Nginx {
  constructor(dir, port, instances) {
    Object.assign(this, { dir, port, instances });
    this.conf = path.join(dir, "nginx.conf");
  }
  async start() {
    const servers = this.instances.map((i) => `    server 127.0.0.1:${i.port} max_fails=1 fail_timeout=1s;`);
    fs.writeFileSync(this.conf, `
${process.getuid?.() === 0 ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${this.dir}/nginx.pid;
error_log ${this.dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${this.dir}/body;
  proxy_temp_path ${this.dir}/proxy;
  fastcgi_temp_path ${this.dir}/fastcgi;
  uwsgi_temp_path ${this.dir}/uwsgi;
  scgi_temp_path ${this.dir}/scgi;
  upstream app {
${servers.join("\n")}
    keepalive 32;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${this.port};
    keepalive_timeout 65s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
    }
  }
}
`);
    await startBalancer(this, "nginx", ["-c", this.conf, "-p", this.dir]);
  }
  stop() {
    this.child.kill("SIGQUIT");
    return this.exited;
  }
}

/**
 * HAProxy checks each instance's health endpoint every 200 ms and takes it out after two failures (the
 * --shutdown-delay answer is 503), back in after two 200s; retries only what failed to connect.
 */
class HAProxy {
  constructor(dir, port, instances) {
    Object.assign(this, { dir, port, instances });
    this.conf = path.join(dir, "haproxy.cfg");
  }
  async start() {
    const servers = this.instances.map((i) => `  server ${i.name} 127.0.0.1:${i.port} check inter 200ms fall 2 rise 2`);
    fs.writeFileSync(this.conf, `
global
  maxconn 4096
  log stderr format raw local0 info
defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  timeout connect 2s
  timeout client 65s
  timeout server 65s
  timeout http-keep-alive 60s
  timeout check 1s
  retries 3
  option redispatch
  retry-on conn-failure
frontend web
  bind 127.0.0.1:${this.port}
  default_backend app
backend app
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
  http-reuse safe
${servers.join("\n")}
`);
    await startBalancer(this, "haproxy", ["-db", "-f", this.conf]);
  }
  stop() {
    if (process.env.LB_KEEP) fs.writeFileSync(path.join(this.dir, "haproxy.log"), this.err);
    this.child.kill("SIGUSR1");
    return this.exited;
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-lb-"));
const [lbPort, portA, portB] = [await freePort(), await freePort(), await freePort()];
const instances = [new Instance("A", portA), new Instance("B", portB)];
const balancer = new (values.balancer === "haproxy" ? HAProxy : Nginx)(dir, lbPort, instances);
const stats = { requests: 0, failed: 0, get: 0, post: 0, failures: {} };
// What the script is doing when a request fails ("TERM A", "HUP B"), for the figures.
let phase = "warm-up";
let running = true;
let loops = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const drains = [];
const hups = [];

async function cleanUp() {
  running = false;
  await Promise.all(loops);
  agent.destroy();
  await balancer.stop?.();
  for (const instance of instances) instance.child?.kill("SIGTERM");
  await Promise.all(instances.map((i) => i.exited));
  if (!process.env.LB_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  else console.error(`kept ${dir}`);
}
// Stopped from outside (a test's deadline): nothing is left running.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    running = false;
    balancer.child?.kill("SIGKILL");
    for (const instance of instances) instance.child?.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

/** One request through the balancer, checked; a failure is counted with the step it happened in. */
const body = "x".repeat(1024);
function once(keepAlive, post) {
  return new Promise((resolve) => {
    const at = phase;
    const fail = (why) => {
      stats.failed++;
      const key = `${why} during ${at}`;
      stats.failures[key] = (stats.failures[key] ?? 0) + 1;
    };
    const req = http.request({
      host: "127.0.0.1", port: lbPort, path: post ? "/echo" : "/", method: post ? "POST" : "GET",
      agent: keepAlive ? agent : false,
      headers: post ? { "content-type": "text/plain", "content-length": body.length } : {},
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        const ok = res.statusCode === 200 && (post ? text === `got ${body.length}\n` : text.startsWith("ok "));
        if (!ok) fail(`${post ? "POST" : "GET"} ${res.statusCode}`);
        resolve();
      });
      res.on("error", (error) => (fail(error.code ?? error.message), resolve()));
    });
    req.on("error", (error) => (fail(error.code ?? error.message), resolve()));
    stats.requests++;
    post ? stats.post++ : stats.get++;
    req.end(post ? body : undefined);
  });
}

/** Until the balancer sends to this instance again, as a rolling restart waits for the balancer's check. */
function routedTo(instance) {
  return waitFor(`the balancer sending to ${instance.name} again`, async () => {
    for (let i = 0; i < 20; i++) if ((await get(lbPort, "/")).text === `ok ${instance.name}\n`) return true;
    return undefined;
  });
}

try {
  for (const instance of instances) instance.start();
  await Promise.all(instances.map((i) => i.serving()));
  await balancer.start();
  // The load: 4 loops on kept-alive connections, 2 on fresh ones; GETs and POSTs alternate.
  loops = Array.from({ length: 6 }, async (_, i) => {
    let n = 0;
    while (running) await once(i < 4, n++ % 2 === 1);
  });
  await Promise.all(instances.map(routedTo));
  for (let round = 0; round < Number(values.rounds); round++) {
    // Neither balancer is told: HAProxy sees the instance's health turn 503 (--shutdown-delay); nginx
    // sees its connections refused.
    for (const instance of steps.has("restart") ? instances : []) {
      const t0 = Date.now();
      phase = `TERM ${instance.name}`;
      instance.child.kill("SIGTERM");
      const code = await instance.exited;
      drains.push({ instance: instance.name, ms: Date.now() - t0, code });
      say(`${instance.name}: stopped in ${Date.now() - t0} ms (exit ${code})`);
      phase = `start ${instance.name}`;
      instance.start();
      await instance.serving();
      phase = `rejoin ${instance.name}`;
      await routedTo(instance);
    }
    for (const instance of steps.has("hup") ? instances : []) {
      const t0 = Date.now();
      const before = instance.count(/Reload complete/g);
      const logged = balancer.err.length;
      phase = `HUP ${instance.name}`;
      instance.child.kill("SIGHUP");
      await waitFor(`${instance.name} reloaded`, () => instance.count(/Reload complete/g) > before);
      const hup = { instance: instance.name, ms: Date.now() - t0, downs: 0 };
      hups.push(hup);
      say(`${instance.name}: reloaded in ${Date.now() - t0} ms`);
      phase = `after HUP ${instance.name}`;
      // The old workers are gone: the next HUP starts from the new generation serving alone.
      await waitFor(`${instance.name}'s old workers gone`, () =>
        childrenOf(instance.child.pid).length === Number(values.workers));
      // A reload must not take the instance out of the balancer (HAProxy logs each server it marks DOWN).
      hup.downs = (balancer.err.slice(logged).match(/^Server \S+ is DOWN/gm) ?? []).length;
    }
  }
} catch (error) {
  // What the instances said is what tells why: print their last lines with the error.
  for (const instance of instances) console.error(`--- ${instance.name}:\n${instance.log.split("\n").slice(-40).join("\n")}`);
  await cleanUp();
  throw error;
}
await cleanUp();
const result = {
  runtime: values.runtime, engine: values.engine, balancer: values.balancer, steps: [...steps],
  workers: Number(values.workers), ...stats, drains, hups,
};
console.log(values.json ? JSON.stringify(result) : result);
process.exit(stats.failed === 0 ? 0 : 1);
