/**
 * The plain types the HTTP policy and the engines share: settings, refusals, and what a check of a
 * request head found. Data only, imported by the port (src/runtime.ts) and the policy alike.
 */
import type { Config } from "../config/settings.ts";

/** The settings of the table the HTTP policy and the engines read, as the table types them. */
type HttpKeys =
  | "keepAlive"
  | "websocketIdleTimeout"
  | "websocketMaxMessage"
  | "headerTimeout"
  | "bodyTimeout"
  | "workerConnections"
  | "limitRequestLine"
  | "limitRequestFields"
  | "limitRequestFieldSize"
  | "limitRequestBody"
  | "forwardedAllowIps"
  | "secureSchemeHeaders"
  | "proxyProtocol"
  | "proxyAllowFrom"
  | "interface";

/** An HTTP engine: the runtime's own server, or node:http (`--engine`, once `auto` is resolved). */
export type Engine = Exclude<Config["engine"], "auto">;

/** The HTTP settings a worker serves with: the table's, with the engine resolved and the TLS files checked. */
export type HttpSettings = Readonly<Pick<Config, HttpKeys>> & {
  readonly engine: Engine;
  /** Whether `--engine` named the engine (else `auto` chose it, and a Node-style app may take the node engine instead). */
  readonly engineChosen: boolean;
  readonly tls: TlsFiles | null;
};

/** TLS material as paths; each engine reads the files itself. */
export interface TlsFiles {
  readonly certfile: string;
  readonly keyfile: string;
  readonly caCerts: string | null;
  readonly certReqs: Config["certReqs"];
  readonly ciphers: string | null;
}

/** Why a request is refused, before the app sees it. */
export interface Rejection {
  readonly status: number;
  readonly reason: string;
}

/** What one pass over a request's header fields found (the policy's, carried from check to app). */
export interface WireFields {
  count: number;
  /** The longest field line (name, colon, space, value), in bytes as the runtime counts chars. */
  longest: number;
  hosts: number;
  host: string | null;
  lengths: number;
  length: string | null;
  transferEncoding: string | null;
  forwardedFor: string | null;
  forwarded: string | null;
  /** Secure-scheme header values, by lower-case name. */
  scheme: Map<string, string> | null;
}

/** What the policy makes of a raw head: a refusal, or the fields it found (kept for its later steps). */
export type WireVerdict =
  | { readonly rejection: Rejection; readonly fields?: undefined }
  | { readonly rejection?: undefined; readonly fields: WireFields };
