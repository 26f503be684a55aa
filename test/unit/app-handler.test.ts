import { expect, test } from "vitest";
import { guardApp } from "../../src/http/app-handler.ts";
import { Logger } from "../../src/log/logger.ts";
import { toHandler } from "../../src/worker/app-loader.ts";

const info = { remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 1 } };

function guarded(app: (r: Request) => unknown) {
  const lines: string[] = [];
  const log = new Logger({ level: "debug", sink: (l) => lines.push(l), pid: 1 });
  return { ...guardApp(app as never, log), lines };
}

test("a sync response stays sync and is counted", () => {
  const { handler, requests } = guarded(() => new Response("ok"));
  const result = handler(new Request("http://x/"), info);
  expect(result).toBeInstanceOf(Response);
  expect(requests()).toBe(1);
});

test("throws and rejections become a 500 that leaks nothing, with the stack logged", async () => {
  const thrown = guarded(() => {
    throw new Error("secret /etc/passwd");
  });
  const response = thrown.handler(new Request("http://x/a?q"), info) as Response;
  expect(response.status).toBe(500);
  expect(await response.text()).toBe("Internal Server Error\n");
  expect(thrown.lines[0]).toMatch(/Error handling request GET \/a: Error: secret \/etc\/passwd\n\s+at /);
  const rejected = guarded(() => Promise.reject(new Error("nope")));
  expect((await rejected.handler(new Request("http://x/"), info)).status).toBe(500);
  const wrong = guarded(() => 42);
  expect((wrong.handler(new Request("http://x/"), info) as Response).status).toBe(500);
  expect(wrong.lines[0]).toMatch(/The app returned number, not a Response/);
});

test("objects with fetch and plain functions are apps; other values are not", () => {
  const app = { greeting: "hi", fetch(this: { greeting: string }) { return new Response(this.greeting); } };
  expect(toHandler(app)).toBeTypeOf("function");
  expect(toHandler(() => new Response())).toBeTypeOf("function");
  expect(toHandler({ port: 1 })).toBeUndefined();
  expect(toHandler(null)).toBeUndefined();
});
