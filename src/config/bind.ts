/** A parsed `--bind` value. */
export type BindAddress =
  | { kind: "tcp"; host: string; port: number; text: string }
  | { kind: "unix"; path: string; text: string }
  | { kind: "fd"; fd: number; text: string };

const DEFAULT_PORT = 8000;

function port(text: string, whole: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new Error(`"${whole}" has a bad port: expected a number from 0 to 65535`);
  }
  return Number(text);
}

/**
 * Parses `HOST:PORT`, `HOST`, `[IPV6]:PORT`, `[IPV6]`, `:PORT`, `unix:PATH` or `fd://N`.
 *
 * @example
 * ```ts
 * parseBind("[::1]:8080"); // { kind: "tcp", host: "::1", port: 8080, text: "[::1]:8080" }
 * ```
 */
export function parseBind(text: string): BindAddress {
  const value = text.trim();
  if (value.startsWith("unix:")) {
    const path = value.slice("unix:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw new Error(`"${text}" names no socket path: expected unix:PATH`);
    return { kind: "unix", path, text: value };
  }
  if (value.startsWith("fd://")) {
    const fd = value.slice("fd://".length);
    if (!/^\d+$/.test(fd)) throw new Error(`"${text}" names no file descriptor: expected fd://N`);
    return { kind: "fd", fd: Number(fd), text: value };
  }
  if (value === "") throw new Error("the address is empty: expected HOST:PORT");
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end < 0) throw new Error(`"${text}" has an unclosed "[": expected [IPV6]:PORT`);
    const host = value.slice(1, end);
    const rest = value.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) throw new Error(`"${text}" is not [IPV6]:PORT`);
    return { kind: "tcp", host, port: rest ? port(rest.slice(1), text) : DEFAULT_PORT, text: value };
  }
  const colon = value.lastIndexOf(":");
  if (colon >= 0 && value.indexOf(":") !== colon) {
    throw new Error(`"${text}" looks like a bare IPv6 address: write it as [${value}]:PORT`);
  }
  const host = colon >= 0 ? value.slice(0, colon) : value;
  const portText = colon >= 0 ? value.slice(colon + 1) : String(DEFAULT_PORT);
  return { kind: "tcp", host: host === "" ? "0.0.0.0" : host, port: port(portText, text), text: value };
}

/** `http://127.0.0.1:8000`, `http://[::1]:8000`, `unix:/run/app.sock`: how the log shows a listener. */
export function formatAddress(address: BindAddress, scheme: "http" | "https" = "http"): string {
  switch (address.kind) {
    case "tcp":
      return `${scheme}://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
    case "unix":
      return `unix:${address.path}`;
    case "fd":
      return `fd://${address.fd}`;
  }
}
