/**
 * The plain types the HTTP policy and the engines share: settings, refusals, and what a check of a
 * request head found. Data only, imported by the port (src/runtime.ts) and the policy alike.
 */

/** The HTTP settings a worker serves with (from the settings table). */
export interface HttpSettings {
  /** Which HTTP server serves: the runtime's own, or node:http. */
  readonly engine: "native" | "node";
  readonly keepAlive: number;
  readonly headerTimeout: number;
  readonly bodyTimeout: number;
  readonly workerConnections: number;
  readonly limitRequestLine: number;
  readonly limitRequestFields: number;
  readonly limitRequestFieldSize: number;
  readonly limitRequestBody: number;
  readonly forwardedAllowIps: readonly string[];
  readonly secureSchemeHeaders: Readonly<Record<string, string>>;
  readonly proxyProtocol: "off" | "v1" | "v2" | "auto";
  readonly proxyAllowFrom: readonly string[];
  readonly tls: TlsFiles | null;
}

/** TLS material as paths; each engine reads the files itself. */
export interface TlsFiles {
  readonly certfile: string;
  readonly keyfile: string;
  readonly caCerts: string | null;
  readonly certReqs: "none" | "optional" | "required";
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
