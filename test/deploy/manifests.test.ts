/**
 * The Kubernetes manifests and the compose file of examples/deploy, checked offline: each object's
 * kind and required fields, selectors against pod labels, probes and health checks against the
 * arguments unicorn is given, grace periods against unicorn's timeouts, the memory limit against the
 * workers it starts. unicorn's own parser reads the container's arguments and environment
 * (`--print-config`, `--check-config`): a flag it refuses, or a value it reads otherwise than the
 * manifest assumes, fails here.
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { ROOT } from "../helpers/server.ts";
import { readImage } from "./dockerfile.ts";

const run = promisify(execFile);
const DEPLOY = path.join(ROOT, "examples/deploy");
const KUBE = path.join(DEPLOY, "kubernetes");
const RUNTIMES = ["node", "bun", "deno"] as const;

/** Resident memory of an arbiter, and of a worker just booted, on the runtimes (measured, 2026-12-01). */
const ARBITER_MIB = 75;
const FRESH_WORKER_MIB = 90;
/** The idle timeout of common balancers (ingress-nginx, AWS ALB): unicorn's --keep-alive must exceed it. */
const BALANCER_IDLE_S = 60;

// Loosely typed views of the YAML: every field the checks read may be missing, which is what they check.
type Obj = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// unicorn's reading of a command line.

type Settings = Record<string, { value: string; source: string }>;

/** The environment of a container: nothing from this shell (no PORT, no UNICORN_*), only `env`. */
function cleanEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: os.homedir(), NO_COLOR: "1", ...env };
}

/** `unicorn --print-config ARGS` with the container's environment, parsed: `name = value  # source`. */
async function printConfig(args: string[], env: Record<string, string>): Promise<Settings> {
  const { stdout } = await run(process.execPath, [path.join(ROOT, "bin/unicorn.mjs"), ...args, "--print-config"], {
    cwd: path.join(DEPLOY, "docker"),
    env: cleanEnv(env),
  });
  const settings: Settings = {};
  for (const line of stdout.split("\n")) {
    const m = /^(\w+)\s+= ?(.*?)  # (.+)$/.exec(line);
    if (m) settings[m[1]!] = { value: m[2]!, source: m[3]! };
  }
  expect(Object.keys(settings).length, stdout).toBeGreaterThan(30);
  return settings;
}

/** `unicorn --check-config ARGS`: the config and the app (examples/deploy/docker/app.ts) load. */
async function checkConfig(args: string[], env: Record<string, string>): Promise<void> {
  const { stderr } = await run(process.execPath, [path.join(ROOT, "bin/unicorn.mjs"), ...args, "--check-config"], {
    cwd: path.join(DEPLOY, "docker"),
    env: cleanEnv(env),
  });
  expect(stderr).toMatch(/Config and app are valid/);
}

const num = (settings: Settings, name: string) => Number(settings[name]?.value);
const port = (bind: string | undefined) => Number(/:(\d+)$/.exec(bind ?? "")?.[1]);

// ---------------------------------------------------------------------------------------------
// Quantities and durations.

/** A Kubernetes memory quantity in MiB: 768Mi, 1Gi, 800M, 805306368. */
export function mebibytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!m) throw new Error(`not a memory quantity: ${quantity}`);
  const unit = { "": 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ""]!;
  return (Number(m[1]) * unit) / 2 ** 20;
}

/** A Kubernetes CPU quantity in cores: 2, 1.5, 1500m. */
export function cores(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(quantity);
  if (!m) throw new Error(`not a CPU quantity: ${quantity}`);
  return m[2] ? Number(m[1]) / 1000 : Number(m[1]);
}

/** A compose duration in seconds: 35s, 1m30s, 500ms, 1h. */
export function durationSeconds(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(text);
  if (!m || text === "") throw new Error(`not a duration: ${text}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) + Number(m[4] ?? 0) / 1000;
}

/** Whether every label of `selector` is on `labels` (and there is at least one). */
function selects(selector: Obj | undefined, labels: Obj | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels?.[key] === value);
}

// ---------------------------------------------------------------------------------------------
// Kubernetes.

function kube(): Obj[] {
  return fs.readdirSync(KUBE).filter((f) => f.endsWith(".yaml")).sort().flatMap((file) =>
    parseAllDocuments(fs.readFileSync(path.join(KUBE, file), "utf8")).map((doc) => {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
      return { ...(doc.toJS() as Obj), file };
    })
  );
}

function one(objects: Obj[], kind: string): Obj {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.map((o) => o.file), `one ${kind}`).toHaveLength(1);
  return found[0]!;
}

/** The container's environment as the kubelet makes it: WEB_CONCURRENCY from limits.cpu rounded up. */
function containerEnv(container: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = String(entry.value);
    const ref = entry.valueFrom?.resourceFieldRef;
    if (ref) {
      expect(ref.containerName ?? container.name, `${entry.name}: resourceFieldRef of this container`).toBe(container.name);
      const [kind, resource] = String(ref.resource).split(".");
      const quantity = container.resources?.[kind!]?.[resource!];
      expect(quantity, `${entry.name}: ${ref.resource} is set`).toBeDefined();
      // The kubelet divides by the divisor and rounds up.
      env[entry.name] = String(Math.ceil(cores(String(quantity)) / cores(String(ref.divisor ?? "1"))));
    }
  }
  return env;
}

describe("kubernetes/", () => {
  const objects = kube();
  const deployment = one(objects, "Deployment");
  const pod = deployment.spec?.template ?? {};
  const container: Obj = pod.spec?.containers?.[0] ?? {};
  const args: string[] = (container.args ?? []).map(String);

  test("each object has its apiVersion, kind, a valid name and what its kind requires", () => {
    const versions: Record<string, string> = { Deployment: "apps/v1", Service: "v1", PodDisruptionBudget: "policy/v1" };
    expect(objects.map((o) => o.kind).sort()).toEqual(["Deployment", "PodDisruptionBudget", "Service"]);
    for (const object of objects) {
      expect(object.apiVersion, `${object.file} ${object.kind}`).toBe(versions[object.kind]);
      expect(object.metadata?.name, object.file).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    }
    expect(pod.spec.containers).toHaveLength(1);
    expect(container.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(container.image).toEqual(expect.any(String));
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const service = one(objects, "Service");
    expect(service.spec.ports.length).toBeGreaterThan(0);
    const pdb = one(objects, "PodDisruptionBudget");
    // Exactly one of the two, and it leaves a pod serving.
    expect([pdb.spec.minAvailable, pdb.spec.maxUnavailable].filter((v) => v !== undefined)).toHaveLength(1);
    if (pdb.spec.maxUnavailable !== undefined) expect(pdb.spec.maxUnavailable).toBeLessThan(deployment.spec.replicas);
    else expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
  });

  test("the Deployment's, Service's and PodDisruptionBudget's selectors match the pod's labels; the Service targets the container's port", () => {
    const labels = pod.metadata?.labels;
    expect(selects(deployment.spec.selector?.matchLabels, labels), "Deployment selector").toBe(true);
    const service = one(objects, "Service");
    expect(selects(service.spec.selector, labels), "Service selector").toBe(true);
    expect(selects(one(objects, "PodDisruptionBudget").spec.selector?.matchLabels, labels), "PDB selector").toBe(true);
    const ports: Obj[] = container.ports ?? [];
    for (const target of service.spec.ports.map((p: Obj) => p.targetPort ?? p.port)) {
      expect(ports.some((p) => p.name === target || p.containerPort === target), `Service targetPort ${target}`).toBe(true);
    }
  });

  test("unicorn accepts the container's arguments and environment, and loads the app with them", async () => {
    const env = containerEnv(container);
    const settings = await printConfig(args, env);
    await checkConfig(args, env);
    // The workers come from WEB_CONCURRENCY, i.e. the CPU limit: no -w overrides it.
    expect(settings.workers, "workers").toEqual({ value: env.WEB_CONCURRENCY, source: "env WEB_CONCURRENCY" });
    expect(Number(env.WEB_CONCURRENCY)).toBeGreaterThanOrEqual(1);
    expect(settings.bind?.value).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(settings.healthPath?.value).toMatch(/^\//);
    expect(num(settings, "keepAlive"), "--keep-alive above the balancers' idle timeout").toBeGreaterThan(BALANCER_IDLE_S);
  });

  test("the probes ask the bound port: readiness and startup --health-path, liveness its /live", async () => {
    const settings = await printConfig(args, containerEnv(container));
    const bound = port(settings.bind?.value);
    const health = settings.healthPath!.value;
    const portOf = (p: number | string) => (typeof p === "number" ? p : (container.ports ?? []).find((c: Obj) => c.name === p)?.containerPort);
    const probes: Record<string, string> = { startupProbe: health, readinessProbe: health, livenessProbe: `${health}/live` };
    for (const [probe, want] of Object.entries(probes)) {
      const get = container[probe]?.httpGet;
      expect(get?.path, `${probe} path`).toBe(want);
      expect(portOf(get?.port), `${probe} port`).toBe(bound);
    }
    expect(container.ports.map((p: Obj) => p.containerPort)).toContain(bound);
    // The startup probe gives a worker as long to boot as unicorn does (--boot-timeout, else --timeout).
    const boot = num(settings, "bootTimeout") || num(settings, "timeout");
    const { periodSeconds = 10, failureThreshold = 3 } = container.startupProbe;
    expect(periodSeconds * failureThreshold).toBeGreaterThanOrEqual(boot);
  });

  test("terminationGracePeriodSeconds is above --shutdown-delay + --graceful-timeout + the preStop sleep", async () => {
    const settings = await printConfig(args, containerEnv(container));
    const preStop = Number(container.lifecycle?.preStop?.sleep?.seconds ?? 0);
    const needed = num(settings, "shutdownDelay") + num(settings, "gracefulTimeout") + preStop;
    // The delay is what keeps the pod serving while it leaves the endpoints: one of the two is set.
    expect(num(settings, "shutdownDelay") + preStop, "--shutdown-delay or a preStop sleep").toBeGreaterThan(0);
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(needed);
  });

  test("the memory limit covers the workers at --max-worker-memory, the arbiter and a replacement worker starting", async () => {
    const env = containerEnv(container);
    const settings = await printConfig(args, env);
    const workers = num(settings, "workers");
    const perWorker = num(settings, "maxWorkerMemory");
    expect(perWorker, "--max-worker-memory is set").toBeGreaterThan(0);
    const limit = mebibytes(String(container.resources?.limits?.memory));
    expect(limit).toBeGreaterThanOrEqual(workers * perWorker + ARBITER_MIB + FRESH_WORKER_MIB);
    // Requests equal limits: the pod is Guaranteed, and is evicted last.
    expect(container.resources.requests).toEqual(container.resources.limits);
  });

  test("rolling updates add a pod before removing one; the pod runs as non-root on a read-only root with /tmp writable, and sets tcp_migrate_req", () => {
    expect(deployment.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(pod.spec.securityContext?.runAsNonRoot).toBe(true);
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
    const tmp = (container.volumeMounts ?? []).find((m: Obj) => m.mountPath === "/tmp");
    expect(tmp, "a volume at /tmp").toBeDefined();
    expect(pod.spec.volumes.find((v: Obj) => v.name === tmp.name)?.emptyDir).toBeDefined();
    expect(pod.spec.securityContext?.sysctls).toContainEqual({ name: "net.ipv4.tcp_migrate_req", value: "1" });
  });
});

// ---------------------------------------------------------------------------------------------
// compose.yaml and nginx.conf.

/** compose's `${VAR:-default}` and `${VAR}`, with `vars` as the environment. */
function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, name: string, fallback?: string) => vars[name] || fallback || "");
}

/** The compose file as `docker compose config` reads it for `vars` (merge keys resolved). */
function compose(vars: Record<string, string> = {}): Obj {
  return parse(interpolate(fs.readFileSync(path.join(DEPLOY, "compose.yaml"), "utf8"), vars), { merge: true });
}

/** The nginx config's directives: `name args;`, comments dropped, each with the block it is in. */
function nginxDirectives(text: string): { block: string; name: string; args: string[] }[] {
  const out: { block: string; name: string; args: string[] }[] = [];
  const stack: string[] = [];
  for (const token of text.replace(/#[^\n]*/g, "").matchAll(/([^;{}]*)([;{}])/g)) {
    const words = token[1]!.trim().match(/"[^"]*"|\S+/g) ?? [];
    if (token[2] === "}") stack.pop();
    else if (token[2] === "{") stack.push(words[0] ?? "");
    else if (words.length) out.push({ block: stack.join("/"), name: words[0]!, args: words.slice(1) });
  }
  return out;
}

describe("compose.yaml", () => {
  const file = compose();
  const services: Obj = file.services ?? {};
  const apps = Object.entries(services).filter(([, s]) => s.build);
  const nginx = services.nginx ?? {};
  const conf = fs.readFileSync(path.join(DEPLOY, "nginx.conf"), "utf8");
  const directives = nginxDirectives(conf);
  const directive = (block: string, name: string) => directives.filter((d) => d.block === block && d.name === name).map((d) => d.args);

  test("two app services built from a Dockerfile of each runtime, and nginx in front", () => {
    expect(apps.map(([name]) => name)).toEqual(["app1", "app2"]);
    for (const runtime of RUNTIMES) {
      for (const [name, service] of Object.entries(compose({ UNICORN_RUNTIME: runtime }).services as Obj).filter(([, s]) => s.build)) {
        const dockerfile = path.join(DEPLOY, service.build.context, service.build.dockerfile);
        expect(fs.existsSync(dockerfile), `${name}: ${dockerfile}`).toBe(true);
        expect(service.build.dockerfile).toBe(`Dockerfile.${runtime}`);
      }
    }
    expect(nginx.image).toMatch(/^nginx:/);
    expect(nginx.volumes).toContain("./nginx.conf:/etc/nginx/nginx.conf:ro");
    for (const [name] of apps) expect(nginx.depends_on?.[name]?.condition, `nginx waits for ${name}`).toBe("service_healthy");
    expect(nginx.ports).toEqual([`8080:${directive("http/server", "listen")[0]?.[0]}`]);
  });

  test.each([["app1"], ["app2"]])("%s: unicorn accepts its command and environment; the health check, grace period, sysctl and PID 1 fit them", async (name) => {
    const service: Obj = services[name];
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
    const command: string[] = service.command.map(String);
    const settings = await printConfig(command, env);
    await checkConfig(command, env);
    const bound = port(settings.bind?.value);
    expect(service.expose.map(Number)).toEqual([bound]);
    expect(settings.workers).toEqual({ value: env.WEB_CONCURRENCY, source: "env WEB_CONCURRENCY" });
    // The HEALTHCHECK: compose's own test, or, with none, each image's (Docker keeps the image's command).
    const health = settings.healthPath!.value;
    const tests = service.healthcheck?.test
      ? [service.healthcheck.test.join(" ")]
      : RUNTIMES.map((runtime) => readImage(fs.readFileSync(path.join(DEPLOY, "docker", `Dockerfile.${runtime}`), "utf8")).healthcheck!.command.join(" "));
    for (const check of tests) expect(/:\$\{[^}]+\}(\/\S*?)[`'"]/.exec(check)?.[1] ?? check, "health check path").toBe(health);
    for (const key of ["interval", "timeout", "start_period"]) expect(durationSeconds(service.healthcheck[key]), key).toBeGreaterThan(0);
    // docker stop: TERM, then SIGKILL after stop_grace_period.
    expect(service.stop_signal ?? "SIGTERM").toBe("SIGTERM");
    expect(durationSeconds(service.stop_grace_period)).toBeGreaterThan(num(settings, "gracefulTimeout") + num(settings, "shutdownDelay"));
    expect(service.sysctls).toEqual({ "net.ipv4.tcp_migrate_req": 1 });
    // PID 1 reaps orphans: compose's init, or tini at the head of every image's ENTRYPOINT.
    const tini = RUNTIMES.every((runtime) => readImage(fs.readFileSync(path.join(DEPLOY, "docker", `Dockerfile.${runtime}`), "utf8")).entrypoint?.[0] === "tini");
    expect(service.init === true || tini, "init: true or tini in the images").toBe(true);
    if (service.read_only) expect(service.tmpfs).toContain("/tmp");
  });

  test("nginx.conf: the upstream is the app services on unicorn's port, kept alive for less than --keep-alive, over HTTP/1.1, retried on errors", async () => {
    const [, service] = apps[0]!;
    const settings = await printConfig(service.command.map(String), {});
    const bound = port(settings.bind?.value);
    expect(directive("http/upstream", "server").map((a) => a[0]).sort()).toEqual(apps.map(([name]) => `${name}:${bound}`).sort());
    expect(Number(directive("http/upstream", "keepalive")[0]?.[0])).toBeGreaterThan(0);
    const upstreamIdle = durationSeconds(directive("http/upstream", "keepalive_timeout")[0]?.[0] ?? "60s");
    expect(upstreamIdle, "nginx closes idle upstream connections before unicorn").toBeLessThan(num(settings, "keepAlive"));
    expect(directive("http/server/location", "proxy_http_version")).toEqual([["1.1"]]);
    expect(directive("http/server/location", "proxy_set_header")).toContainEqual(["Connection", '""']);
    const retry = directive("http/server/location", "proxy_next_upstream")[0] ?? [];
    expect(retry).toEqual(expect.arrayContaining(["error", "timeout"]));
    expect(retry.some((a) => a === "non_idempotent"), "never resend a POST that reached a server").toBe(false);
    // `resolve` needs a shared-memory zone in the upstream, and a resolver.
    if (directive("http/upstream", "server").some((a) => a.includes("resolve"))) {
      expect(directive("http/upstream", "zone")).toHaveLength(1);
      expect(directive("http", "resolver")).toHaveLength(1);
    }
  });

  const nginxVersion = (() => {
    try {
      // nginx -v writes to standard error.
      return /nginx\/(\d+\.\d+\.\d+)/.exec(execFileSync("sh", ["-c", "nginx -v 2>&1"], { encoding: "utf8" }))?.[1];
    } catch {
      return undefined;
    }
  })();
  const older = (version: string, than: number[]) => {
    const parts = version.split(".").map(Number);
    const at = parts.findIndex((p, i) => p !== than[i]);
    return at !== -1 && parts[at]! < than[at]!;
  };

  test.skipIf(!nginxVersion)(`nginx -t accepts nginx.conf${nginxVersion ? ` (nginx ${nginxVersion} here)` : ": skipped, no nginx here"}`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-nginx-"));
    try {
      // The services' names resolve only on compose's network, and the logs go to this folder.
      let text = conf.replace(/\bapp[12]:/g, "127.0.0.1:").replaceAll("/var/log/nginx/", `${dir}/`);
      // Upstream `resolve` needs nginx >= 1.27.3: an older one checks the rest.
      if (older(nginxVersion!, [1, 27, 3])) text = text.replace(/ resolve\b/g, "");
      fs.writeFileSync(path.join(dir, "nginx.conf"), `pid ${dir}/nginx.pid;\n${text}`);
      const { stderr } = await run("nginx", ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")]);
      expect(stderr).toMatch(/syntax is ok/);
      expect(stderr).toMatch(/test is successful/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("quantities", () => {
  test("memory, CPU and durations read as Kubernetes and compose read them", () => {
    expect(mebibytes("768Mi")).toBe(768);
    expect(mebibytes("1Gi")).toBe(1024);
    expect(mebibytes("1000M")).toBeCloseTo(953.67, 1);
    expect(cores("1500m")).toBe(1.5);
    expect(Math.ceil(cores("1500m"))).toBe(2);
    expect(durationSeconds("1m30s")).toBe(90);
    expect(durationSeconds("35s")).toBe(35);
    expect(durationSeconds("500ms")).toBe(0.5);
    expect(() => durationSeconds("35")).toThrow();
  });
});
