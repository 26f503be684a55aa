/** What `APP` is taken for, by its shape and --interface (src/worker/app-loader.ts), with the real frameworks. */
import http from "node:http";
import express from "express";
import Fastify from "fastify";
import { Elysia } from "elysia";
import { H3 } from "h3";
import { Hono } from "hono";
import { AutoRouter } from "itty-router";
import Koa from "koa";
import { expect, test } from "vitest";
import { connInfoOf, installRequestIp, requestIpServer, setConnInfo } from "../../src/http/client.ts";
import { notAnApp, toServable } from "../../src/worker/app-loader.ts";

test("Fetch apps: Hono, Elysia, h3, itty-router and { fetch }", async () => {
  const apps: Array<[string, unknown]> = [
    ["Hono", new Hono()],
    ["Elysia", new Elysia()],
    ["h3", new H3()],
    ["itty-router", AutoRouter()],
    ["{ fetch }", { fetch: () => new Response() }],
  ];
  for (const [name, app] of apps) {
    const servable = await toServable(app, "auto");
    expect(servable?.interface, name).toBe("fetch");
    expect(await toServable(app, "node")).toBeUndefined();
  }
});

test("Node-style apps: Express, Koa, Fastify (made ready), an http.Server, a connect-like app", async () => {
  const fastify = Fastify();
  fastify.get("/", async () => "hi");
  const cases: Array<[unknown, string]> = [
    [express(), "an Express app"],
    [new Koa(), "a Koa app"],
    [fastify, "a Fastify app"],
    [http.createServer(), "an http.Server"],
    [Object.assign((_req: unknown, _res: unknown, _next: unknown) => {}, { handle() {}, use() {} }), "a connect app"],
  ];
  for (const [app, what] of cases) {
    const servable = await toServable(app, "auto");
    expect(servable).toMatchObject({ interface: "node", what });
    expect(await toServable(app, "fetch")).toBeUndefined();
  }
  // Fastify's routes are only there once it is ready: toServable made it so.
  expect(fastify.printRoutes()).toMatch(/\//);
  await fastify.close();
});

test("a NestJS app is served through its adapter, once initialised", async () => {
  const order: string[] = [];
  const inner = express();
  const nest = {
    init: async () => void order.push("init"),
    getHttpAdapter: () => ({ getInstance: () => (order.push("instance"), inner) }),
  };
  expect(await toServable(nest, "auto")).toMatchObject({ interface: "node", what: "a NestJS app (through an Express app)" });
  expect(order).toEqual(["init", "instance"]);
});

test("a plain function is read by its parameters, and the description says so", async () => {
  const fetchLike = await toServable((request: Request) => new Response(request.url), "auto");
  expect(fetchLike).toMatchObject({ interface: "fetch", what: "a function (request) => Response" });
  const twoArgs = await toServable((request: Request, info: unknown) => new Response(String(info) + request.url), "auto");
  expect(twoArgs).toMatchObject({ interface: "fetch" });
  expect(twoArgs?.what).toMatch(/read as a Fetch handler \(say --interface node if it is a Node request listener/);
  for (const fn of [
    (req: unknown, res: unknown) => [req, res],
    function handler(req: unknown, response: unknown) {
      return [req, response];
    },
    async (incoming: unknown, reply: unknown) => [incoming, reply],
  ]) {
    const servable = await toServable(fn, "auto");
    expect(servable?.interface, fn.toString()).toBe("node");
    expect(servable?.what).toMatch(/read as a Node request listener by its parameters \(say --interface fetch/);
  }
  // --interface decides for a plain function, whatever its parameters.
  expect((await toServable((req: unknown, res: unknown) => [req, res], "fetch"))?.interface).toBe("fetch");
  expect((await toServable((request: unknown) => request, "node"))?.interface).toBe("node");
});

test("no app at all: a clear error naming what was found and what is expected", async () => {
  expect(await toServable({ port: 1 }, "auto")).toBeUndefined();
  expect(await toServable(null, "auto")).toBeUndefined();
  expect(notAnApp('"app.ts": "default"', { port: 1 }, "auto").message).toBe(
    'Cannot load app "app.ts": "default": it is an object with keys port; expected a Fetch handler ' +
      "({ fetch(request) } or (request) => Response) or a Node-style app (Express, Koa, Fastify, (req, res))",
  );
});

test("Elysia, never listened, gets a server whose requestIP is the client unicorn decided", async () => {
  const app = new Elysia();
  await toServable(app, "auto");
  expect(app.server).toBe(requestIpServer);
  const request = new Request("http://x/");
  expect(requestIpServer.requestIP(request)).toBeNull();
  setConnInfo(request, { remoteAddr: { transport: "tcp", hostname: "2001:db8::7", port: 0 } });
  expect(requestIpServer.requestIP(request)).toEqual({ address: "2001:db8::7", port: 0, family: "IPv6" });
  expect(connInfoOf(request)?.remoteAddr.hostname).toBe("2001:db8::7");
});

test("request.ip is the client unicorn decided, in srvx's style (h3 v2 reads it)", () => {
  class Fresh extends Request {}
  installRequestIp(Fresh.prototype);
  const request = new Fresh("http://x/");
  expect((request as Request & { ip?: string }).ip).toBeUndefined();
  setConnInfo(request, { remoteAddr: { transport: "tcp", hostname: "203.0.113.4", port: 9 } });
  expect((request as Request & { ip?: string }).ip).toBe("203.0.113.4");
  // A unix socket's peer has no address.
  setConnInfo(request, { remoteAddr: { transport: "unix", hostname: "", port: 0 } });
  expect((request as Request & { ip?: string }).ip).toBeUndefined();
});
