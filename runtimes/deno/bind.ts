/** Binding on Deno: a port is checked (and picked, for port 0) with Deno.listen. */
import { describeErrno } from "../_shared/probe.ts";

interface DenoListener {
  readonly addr: { port: number };
  close(): void;
}
const Deno = (globalThis as unknown as {
  Deno: { listen(options: { hostname: string; port: number }): DenoListener };
}).Deno;

/** Deno.listen rather than node:net: it throws a missing --allow-net where the caller can catch it. */
export function probePort(address: { host: string; port: number }): Promise<number> {
  try {
    const listener = Deno.listen({ hostname: address.host, port: address.port });
    const port = listener.addr.port;
    listener.close();
    return Promise.resolve(port);
  } catch (error) {
    const code = (error as { code?: string }).code;
    return Promise.reject(code ? Object.assign(new Error(describeErrno({ code })), { code }) : error);
  }
}
