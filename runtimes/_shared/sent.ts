/** Counting what a node:http or node:http2 response writes, for the access log's size (`EngineInfo.whenSent`). */
import { Buffer } from "node:buffer";
import type http from "node:http";
import type http2 from "node:http2";

/** The bytes a chunk written to a response puts on the wire, before any chunked framing. */
function sizeOf(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === "string") return Buffer.byteLength(chunk, typeof encoding === "string" ? encoding as BufferEncoding : "utf8");
  return (chunk as { byteLength?: number } | null)?.byteLength ?? 0;
}

interface Writable {
  write(...args: unknown[]): boolean;
  end(...args: unknown[]): unknown;
  readonly statusCode: number;
  once(event: "finish" | "close", listener: () => void): unknown;
}

/**
 * Counts the body bytes written to `res` from now on; `done` is called once, when the response is sent
 * or its connection lost. HEAD and bodiless statuses send no body, whatever was written.
 */
export function countSent(response: http.ServerResponse | http2.Http2ServerResponse, head: boolean, done: (bytes: number) => void): void {
  const res = response as unknown as Writable;
  let bytes = 0;
  const write = res.write;
  const end = res.end;
  res.write = function (this: Writable, chunk: unknown, ...rest: unknown[]) {
    bytes += sizeOf(chunk, rest[0]);
    return write.call(this, chunk, ...rest);
  };
  res.end = function (this: Writable, ...args: unknown[]) {
    // node:http2's end(chunk) writes the chunk through write (counted there); node:http's does not.
    const before = bytes;
    const result = end.apply(this, args);
    if (bytes === before && args[0] != null && typeof args[0] !== "function") bytes += sizeOf(args[0], args[1]);
    return result;
  };
  let called = false;
  const finish = () => {
    if (called) return;
    called = true;
    done(head || res.statusCode === 204 || res.statusCode === 304 ? 0 : bytes);
  };
  res.once("finish", finish);
  res.once("close", finish);
}
