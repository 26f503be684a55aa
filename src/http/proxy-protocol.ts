/**
 * The PROXY protocol (HAProxy's, versions 1 and 2): the header a load balancer
 * sends before the HTTP bytes to name the client it is relaying. Parsing only;
 * engines that own the connection feed it the first bytes.
 */
import { parseIp } from "./ip.ts";

export type ProxyMode = "v1" | "v2" | "auto";

export type ProxyParse =
  /** Not enough bytes yet to decide. */
  | { readonly kind: "more" }
  /** The bytes do not begin with a PROXY header (accepted only in auto mode). */
  | { readonly kind: "none" }
  | { readonly kind: "error"; readonly reason: string }
  /** A header of `length` bytes; `source` is undefined for LOCAL / UNKNOWN (the peer itself). */
  | { readonly kind: "ok"; readonly length: number; readonly source?: { hostname: string; port: number } };

const V1_PREFIX = "PROXY ";
const V1_MAX = 107;
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[]): "yes" | "no" | "maybe" {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return "no";
  return n === prefix.length ? "yes" : "maybe";
}

const V1_BYTES = [...V1_PREFIX].map((c) => c.charCodeAt(0));

/** Parses the start of a connection's bytes for a PROXY header of the accepted versions. */
export function parseProxyHeader(bytes: Uint8Array, mode: ProxyMode): ProxyParse {
  const v1 = mode !== "v2" ? startsWith(bytes, V1_BYTES) : "no";
  const v2 = mode !== "v1" ? startsWith(bytes, V2_SIGNATURE) : "no";
  if (v1 === "yes") return parseV1(bytes);
  if (v2 === "yes") return parseV2(bytes);
  if (v1 === "maybe" || v2 === "maybe") return { kind: "more" };
  if (mode === "auto") return { kind: "none" };
  return { kind: "error", reason: `the connection did not begin with a PROXY protocol ${mode} header` };
}

function parseV1(bytes: Uint8Array): ProxyParse {
  const end = bytes.indexOf(0x0a);
  if (end < 0) {
    return bytes.length >= V1_MAX ? { kind: "error", reason: "the PROXY v1 header is too long" } : { kind: "more" };
  }
  if (end + 1 > V1_MAX || bytes[end - 1] !== 0x0d) return { kind: "error", reason: "the PROXY v1 header does not end with CRLF" };
  let line = "";
  for (let i = 0; i < end - 1; i++) line += String.fromCharCode(bytes[i]!);
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") return { kind: "ok", length: end + 1 };
  if (parts.length !== 6 || (parts[1] !== "TCP4" && parts[1] !== "TCP6")) {
    return { kind: "error", reason: "the PROXY v1 header is malformed" };
  }
  const [, family, source, destination, sourcePort, destinationPort] = parts as [string, string, string, string, string, string];
  const size = family === "TCP4" ? 4 : 16;
  if (source.includes(":") !== (size === 16) || parseIp(source)?.length !== size || parseIp(destination)?.length !== size) {
    return { kind: "error", reason: `the PROXY v1 header has an address that is not ${family}` };
  }
  for (const port of [sourcePort, destinationPort]) {
    if (!/^(0|[1-9]\d{0,4})$/.test(port) || Number(port) > 65535) {
      return { kind: "error", reason: "the PROXY v1 header has an invalid port" };
    }
  }
  return { kind: "ok", length: end + 1, source: { hostname: source, port: Number(sourcePort) } };
}

function parseV2(bytes: Uint8Array): ProxyParse {
  if (bytes.length < 16) return { kind: "more" };
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return { kind: "error", reason: "the PROXY v2 header has an unknown version" };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: "error", reason: "the PROXY v2 header has an unknown command" };
  const length = (bytes[14]! << 8) | bytes[15]!;
  if (bytes.length < 16 + length) return { kind: "more" };
  const total = 16 + length;
  if (command === 0) return { kind: "ok", length: total };
  const family = bytes[13]!;
  const body = bytes.subarray(16, total);
  if (family === 0x11 || family === 0x12) {
    if (length < 12) return { kind: "error", reason: "the PROXY v2 header is too short for TCP4" };
    return { kind: "ok", length: total, source: { hostname: Array.from(body.subarray(0, 4)).join("."), port: (body[8]! << 8) | body[9]! } };
  }
  if (family === 0x21 || family === 0x22) {
    if (length < 36) return { kind: "error", reason: "the PROXY v2 header is too short for TCP6" };
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((body[i]! << 8) | body[i + 1]!).toString(16));
    return { kind: "ok", length: total, source: { hostname: groups.join(":"), port: (body[32]! << 8) | body[33]! } };
  }
  // UNSPEC or unix families: the connection is the proxy's own.
  return { kind: "ok", length: total };
}
