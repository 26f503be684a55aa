/** The HTTP settings workers serve with, checked once at start-up (exit 2 on a bad one). */
import { resolveConfig } from "../config/resolve.ts";
import type { Config } from "../config/settings.ts";
import { usageError } from "../errors.ts";
import { IpSet } from "../http/ip.ts";
import type { HttpSettings, TlsFiles } from "../http/policy.ts";
import type { Engine, Runtime } from "../runtime.ts";

function checkIps(flag: string, entries: readonly string[]): void {
  try {
    new IpSet(entries);
  } catch (error) {
    throw usageError(`Invalid ${flag}: ${(error as Error).message}; give addresses or CIDR ranges such as 10.0.0.0/8, or *`);
  }
}

function tlsFiles(runtime: Runtime, config: Config): TlsFiles | null {
  const { certfile, keyfile } = config;
  if (certfile === undefined && keyfile === undefined) {
    if (config.caCerts !== undefined || config.certReqs !== "none") {
      throw usageError("--ca-certs and --cert-reqs need --certfile and --keyfile: they configure HTTPS");
    }
    return null;
  }
  if (certfile === undefined || keyfile === undefined) {
    throw usageError(`HTTPS needs both --certfile and --keyfile; only ${certfile ? "--certfile" : "--keyfile"} was given`);
  }
  const files: Array<[string, string | undefined]> = [["--certfile", certfile], ["--keyfile", keyfile], [
    "--ca-certs",
    config.caCerts,
  ]];
  for (const [flag, path] of files) {
    if (path === undefined) continue;
    const text = runtime.readTextFile(runtime.resolvePath(runtime.cwd(), path));
    if (text === undefined) throw usageError(`Cannot read ${flag} "${path}": check the path and its permissions`);
    if (!text.includes("-----BEGIN ")) throw usageError(`${flag} "${path}" is not a PEM file (no "-----BEGIN" line)`);
  }
  const { tls } = runtime.capabilities;
  if (config.certReqs !== "none" && !tls.clientCertificates) {
    throw usageError(`Cannot use "--cert-reqs ${config.certReqs}" on ${runtime.name}: its TLS server does not ask for ` +
      "client certificates; verify them at a proxy in front");
  }
  if (config.ciphers !== undefined && !tls.ciphers) {
    throw usageError(`Cannot use "--ciphers" on ${runtime.name}: its TLS stack (rustls) has a fixed list of strong suites`);
  }
  if (config.certReqs === "required" && config.caCerts === undefined) {
    throw usageError("--cert-reqs required needs --ca-certs: the CA that client certificates are checked against");
  }
  const absolute = (path: string) => runtime.resolvePath(runtime.cwd(), path);
  return {
    certfile: absolute(certfile),
    keyfile: absolute(keyfile),
    caCerts: config.caCerts === undefined ? null : absolute(config.caCerts),
    certReqs: config.certReqs,
    ciphers: config.ciphers ?? null,
  };
}

/** Resolves `--engine auto` and checks the HTTP settings against what the runtime and engine can do. */
export function resolveHttpSettings(runtime: Runtime, config: Config): HttpSettings {
  const { engines, defaultEngine } = runtime.capabilities;
  // A Node-style app needs node:http: asked for by --interface node, auto picks it.
  const engine: Engine = config.engine !== "auto"
    ? config.engine
    : config.interface === "node" && engines.node !== undefined
    ? "node"
    : defaultEngine;
  if (engines[engine] === undefined) {
    throw usageError(`Cannot use "--engine ${engine}" on ${runtime.name}: it has ${
      Object.entries(engines).map(([name, what]) => `${name} (${what})`).join(" and ")
    }`);
  }
  if (config.interface === "node" && engine !== "node") {
    throw usageError(`Cannot serve a Node-style app (--interface node) with ${engines[engine]}: ` +
      "it serves Fetch handlers; use --engine node (node:http)");
  }
  checkIps("--forwarded-allow-ips", config.forwardedAllowIps);
  checkIps("--proxy-allow-from", config.proxyAllowFrom);
  const tls = tlsFiles(runtime, config);
  if (config.proxyProtocol !== "off") {
    if (engine !== "node") {
      throw usageError(`Cannot use "--proxy-protocol" with ${engines[engine]}: it reads the connection itself; ` +
        (engines.node ? "use --engine node" : `${runtime.name} has no engine that can`));
    }
    if (tls) throw usageError('Cannot use "--proxy-protocol" with HTTPS yet: terminate TLS at the proxy, or drop one');
  }
  if (config.bodyTimeout > 0 && config.headerTimeout > config.bodyTimeout) {
    throw usageError(`--header-timeout (${config.headerTimeout}) cannot be longer than --body-timeout (${config.bodyTimeout})`);
  }
  return httpSettingsOf(config, engine, tls);
}

/** The settings table's defaults as HTTP settings (the node engine, no TLS), for unit tests and the benchmark. */
export function defaultHttpSettings(overrides: Partial<HttpSettings> = {}): HttpSettings {
  return { ...httpSettingsOf(resolveConfig(["app.ts"], {}).config, "node", null), ...overrides };
}

/** The HTTP part of a config, once checked. */
function httpSettingsOf(config: Config, engine: Engine, tls: TlsFiles | null): HttpSettings {
  return {
    engine,
    engineChosen: config.engine !== "auto",
    interface: config.interface,
    keepAlive: config.keepAlive,
    websocketIdleTimeout: config.websocketIdleTimeout,
    websocketMaxMessage: config.websocketMaxMessage,
    headerTimeout: config.headerTimeout,
    bodyTimeout: config.bodyTimeout,
    workerConnections: config.workerConnections,
    limitRequestLine: config.limitRequestLine,
    limitRequestFields: config.limitRequestFields,
    limitRequestFieldSize: config.limitRequestFieldSize,
    limitRequestBody: config.limitRequestBody,
    forwardedAllowIps: config.forwardedAllowIps,
    secureSchemeHeaders: config.secureSchemeHeaders,
    proxyProtocol: config.proxyProtocol,
    proxyAllowFrom: config.proxyAllowFrom,
    tls,
  };
}
