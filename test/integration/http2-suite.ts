/**
 * HTTP/2 through unicorn, with node:http2's client: over TLS, chosen by ALPN on the same port as
 * HTTP/1.1 (node:http engine: node:http2's compatibility API; Deno.serve: its own), and h2c with prior
 * knowledge from peers in --forwarded-allow-ips only. Each stream goes through the HTTP policy, the
 * access log and the graceful drain (GOAWAY) as an HTTP/1.1 request does.
 *
 * Run for each runtime's default engine and its other one (Bun: `--engine node`, Bun's node:http2;
 * Deno: `--engine native`, Deno.serve). What an engine cannot do is skipped with the reason in the name.
 */
import fs from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import type tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type Engine, engineArgs, label, testUnless } from "./engine.ts";
import { killAll, ROOT, type RuntimeName, Server } from "../helpers/server.ts";
import { makeCerts, type TestCerts } from "../helpers/tls.ts";

const portOf = (url: string) => Number(new URL(url).port);

/** Why HTTP/2 over TLS cannot be served here; undefined where it is. */
function noHttp2(runtime: RuntimeName, engine: Engine | undefined): string | undefined {
  if (runtime === "bun" && engine !== "node") return "Bun.serve offers no h2 by ALPN (Bun 1.4.5): --engine node serves HTTP/2 on Bun";
  return undefined;
}

/** Why h2c from a trusted peer cannot be served here. */
function noH2c(runtime: RuntimeName, engine: Engine | undefined): string | undefined {
  if (runtime === "bun" && engine !== "node") return "Bun.serve answers the h2c preface 400 itself: --engine node serves h2c on Bun";
  if (runtime === "deno" && engine !== "native") return "Deno's node:http gets the first bytes out of order once they are read and put back: --engine native serves h2c on Deno";
  return undefined;
}

/** Why h2c from an untrusted peer cannot be refused here. */
function h2cFromAnyone(runtime: RuntimeName, engine: Engine | undefined): string | undefined {
  if (runtime === "deno" && engine === "native") return "Deno.serve speaks h2c to any peer itself, before unicorn sees a request";
  return undefined;
}

/** Why a Node-style app cannot be served here. */
function noNodeStyle(engine: Engine | undefined): string | undefined {
  return engine === "native" ? "Deno.serve serves Fetch apps; a Node-style app needs node:http" : undefined;
}

interface Reply {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: string;
}

/** One request on an HTTP/2 session. */
function h2request(
  session: http2.ClientHttp2Session,
  target: string,
  options: { method?: string; body?: string; headers?: http2.OutgoingHttpHeaders } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": target, ":method": options.method ?? "GET", ...options.headers });
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let body = "";
    stream.on("response", (h) => {
      headers = h;
      status = Number(h[":status"]);
    });
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (body += chunk));
    stream.on("end", () => resolve({ status, headers, body }));
    stream.on("error", reject);
    stream.end(options.body);
  });
}

/** An HTTP/2 session over TLS, trusting the test CA; `alpn` is what was negotiated. */
function connectTls(url: string, ca: Buffer): Promise<{ session: http2.ClientHttp2Session; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url.replace("http:", "https:"), { ca });
    session.once("error", reject);
    session.once("connect", () => resolve({ session, alpn: (session.socket as tls.TLSSocket).alpnProtocol }));
  });
}

/** An h2c session (prior knowledge) to `url`. */
function connectClear(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once("error", reject);
    session.once("connect", () => resolve(session));
  });
}

/** A GET over HTTPS/1.1 offering `ALPNProtocols` (none: no ALPN at all): status, body and what was negotiated. */
function https1(url: string, ca: Buffer, ALPNProtocols?: string[]): Promise<{ status: number; body: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url.replace("http:", "https:"), { ca, agent: false, ...(ALPNProtocols ? { ALPNProtocols } : {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body, alpn: (res.socket as tls.TLSSocket).alpnProtocol }));
    });
    req.on("error", reject);
  });
}

/** Resolves once `session` has closed, or with "open" after `ms`. */
function closedWithin(session: http2.ClientHttp2Session, ms: number): Promise<"closed" | "open"> {
  if (session.closed || session.destroyed) return Promise.resolve("closed");
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), ms);
    session.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
  });
}

/** What the server sends back to a raw connection that opens with HTTP/2's preface, until it closes (or `ms`). */
function sendPreface(port: number, ms = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, ms);
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    // The preface, then an empty SETTINGS frame, as a client with prior knowledge sends them.
    socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  });
}

/** The HTTP/2 suite for the runtime's default engine and its other one. */
export function http2Suite(runtime: RuntimeName): void {
  const engines: Array<Engine | undefined> = [undefined, runtime === "bun" ? "node" : runtime === "deno" ? "native" : undefined];
  for (const engine of new Set(engines)) engineSuite(runtime, engine);
}

function engineSuite(runtime: RuntimeName, engine: Engine | undefined): void {
  const name = label(runtime, engine);
  const nodeEngine = runtime === "node" || (runtime === "bun" && engine === "node") || (runtime === "deno" && engine !== "native");
  const start = (args: string[], app = "app.ts") =>
    new Server(runtime, [app, "-b", "127.0.0.1:0", "--access-logfile", "-", ...args, ...engineArgs(engine)]);
  const listener = path.join(ROOT, "test/fixtures/node-listener.ts");
  /** The access log's version of an HTTP/2 request: Deno.serve hides it, and its lines say HTTP/1.1 (README). */
  const logged = nodeEngine ? "HTTP/2\\.0" : "HTTP/1\\.1";
  const express = path.join(ROOT, "examples/express.ts");

  describe(`${name}: HTTP/2`, () => {
    let certs: TestCerts;
    let ca: Buffer;
    let tlsArgs: string[];
    beforeAll(() => {
      certs = makeCerts();
      ca = fs.readFileSync(certs.ca);
      tlsArgs = ["--certfile", certs.cert, "--keyfile", certs.key];
    });
    afterAll(() => fs.rmSync(certs.dir, { recursive: true, force: true }));
    afterEach(() => killAll());

    const h2 = testUnless(noHttp2(runtime, engine));

    h2("ALPN negotiates h2 over TLS: a Fetch app's GET and POST with a body, and their access-log lines", async () => {
      const server = start(tlsArgs);
      const url = await server.ready();
      const { session, alpn } = await connectTls(url, ca);
      try {
        expect(alpn).toBe("h2");
        const get = await h2request(session, "/echo?a=1");
        expect(get.status).toBe(200);
        const echoed = JSON.parse(get.body) as { url: string; method: string; remote: string };
        expect(echoed.url).toBe(`https://127.0.0.1:${portOf(url)}/echo?a=1`);
        expect(echoed.remote).toBe("127.0.0.1");
        const body = "x".repeat(100_000);
        const post = await h2request(session, "/upload", { method: "POST", body, headers: { "content-type": "text/plain" } });
        expect(post.status).toBe(200);
        expect(JSON.parse(post.body).bytes).toBe(body.length);
        // Several streams at once on the one session.
        const many = await Promise.all(Array.from({ length: 20 }, () => h2request(session, "/pid")));
        expect(new Set(many.map((reply) => reply.status))).toEqual(new Set([200]));
      } finally {
        session.close();
      }
      await server.waitFor(new RegExp(`"GET /echo\\?a=1 ${logged}" 200 `));
      await server.waitFor(new RegExp(`"POST /upload ${logged}" 200 `));
    });

    test("HTTP/1.1 on the same TLS port: a client offering http/1.1 by ALPN, and one offering nothing", async () => {
      const server = start(tlsArgs);
      const url = await server.ready();
      const offered = await https1(`${url}/echo`, ca, ["http/1.1"]);
      expect(offered.status).toBe(200);
      expect(offered.alpn).toBe(runtime === "bun" && engine !== "node" ? false : "http/1.1");
      expect(JSON.parse(offered.body).url.startsWith("https://")).toBe(true);
      const plain = await https1(`${url}/pid`, ca);
      expect(plain.status).toBe(200);
      await server.waitFor(/"GET \/echo HTTP\/1\.1" 200 /);
    });

    const nodeStyle = testUnless(noNodeStyle(engine));
    nodeStyle("a Node-style app (a (req, res) listener) over HTTP/2: GET, and POST with a body", async () => {
      const server = start(tlsArgs, listener);
      const url = await server.ready();
      const { session, alpn } = await connectTls(url, ca);
      try {
        expect(alpn).toBe("h2");
        const pid = await h2request(session, "/pid");
        expect(pid.status).toBe(200);
        expect(pid.body).toBe(String(server.workerPids()[0]));
        const count = await h2request(session, "/count", { method: "POST", body: "y".repeat(70_000) });
        expect(count.body).toBe("70000");
        // A trusted proxy's client shows on this request's socket only.
        const who = await h2request(session, "/who", { headers: { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https" } });
        expect(JSON.parse(who.body)).toEqual({ remoteAddress: "203.0.113.7", encrypted: true });
      } finally {
        session.close();
      }
      await server.waitFor(/^203\.0\.113\.7 - - \[[^\]]+\] "GET \/who HTTP\/2\.0" 200 /);
    });

    nodeStyle("Koa and Fastify over HTTP/2: GET, a JSON POST and a streamed response", async () => {
      for (const example of ["koa.ts", "fastify.ts"]) {
        const server = new Server(runtime, [path.join(ROOT, "examples", example), "-b", "127.0.0.1:0", ...tlsArgs, ...engineArgs(engine)], { cwd: ROOT });
        const url = await server.ready();
        const { session, alpn } = await connectTls(url, ca);
        try {
          expect(alpn).toBe("h2");
          expect((await h2request(session, "/")).body).toMatch(/^Hello from (Koa|Fastify)\n$/);
          const posted = await h2request(session, "/echo", { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } });
          expect(posted.status).toBe(201);
          expect(JSON.parse(posted.body)).toEqual({ received: { a: 1 } });
          expect((await h2request(session, "/stream")).body).toBe("chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
        } finally {
          session.close();
        }
      }
    });

    nodeStyle("an Express app is kept to HTTP/1.1 over TLS (Express fails on node:http2's request): ALPN chooses http/1.1", async () => {
      const server = new Server(runtime, [express, "-b", "127.0.0.1:0", ...tlsArgs, ...engineArgs(engine)], { cwd: ROOT });
      const url = await server.ready();
      // A client that would rather speak h2 (as browsers do) is answered in HTTP/1.1.
      const reply = await https1(`${url}/`, ca, ["h2", "http/1.1"]);
      expect(reply.status).toBe(200);
      expect(reply.body).toBe("Hello from Express\n");
      // http/1.1, or none at all where the TLS server names no protocol (Bun's node:tls front).
      expect(reply.alpn).not.toBe("h2");
    });

    h2("the policy refuses a bad request over HTTP/2 (a field over --limit-request-field-size: 431); the session serves on", async () => {
      const server = start([...tlsArgs, "--limit-request-field-size", "1000"]);
      const url = await server.ready();
      const { session } = await connectTls(url, ca);
      try {
        // X-Forwarded-For: a field every engine reads (Deno.serve's is checked on the fields unicorn reads).
        const refused = await h2request(session, "/echo", { headers: { "x-forwarded-for": "1".repeat(2000) } });
        expect(refused.status).toBe(431);
        expect(refused.body).toBe("Request Header Fields Too Large\n");
        // A refusal ends its stream only. Deno.serve hides the protocol, so unicorn refuses whatever else
        // comes on that connection for 10 s, HTTP/2 streams included (docs/http.md).
        expect((await h2request(session, "/pid")).status).toBe(nodeEngine ? 200 : 400);
      } finally {
        session.close();
      }
      await server.waitFor(new RegExp(`"GET /echo ${logged}" 431 `));
    });

    const drains = testUnless(noHttp2(runtime, engine));
    drains("TERM during a slow HTTP/2 request: GOAWAY, the request finishes, the worker exits 0", async () => {
      const server = start([...tlsArgs, "--graceful-timeout", "30"]);
      const url = await server.ready();
      const [pid] = server.workerPids();
      const { session } = await connectTls(url, ca);
      let goaway = false;
      session.on("goaway", () => (goaway = true));
      session.on("error", () => {});
      try {
        const slow = h2request(session, "/slow?ms=1500");
        await server.waitFor(/fixture: slow request started/);
        server.signal("SIGTERM");
        const reply = await slow;
        expect(reply.status).toBe(200);
        expect(reply.body).toBe("slow done after 1500 ms");
        await server.waitFor(new RegExp(`Worker \\(pid:${pid}\\) exited$`));
        expect((await server.exited()).code).toBe(0);
        expect(goaway, "the session was told to go away").toBe(true);
      } finally {
        session.destroy();
      }
    });

    const nodeHttp2 = testUnless(!nodeEngine && (noHttp2(runtime, engine) ?? "Deno.serve has no settable HTTP/2 deadlines"));
    nodeHttp2("an HTTP/2 session idle for --keep-alive is closed; one that opens no stream within --header-timeout too", async () => {
      const server = start([...tlsArgs, "--keep-alive", "1", "--header-timeout", "1"]);
      const url = await server.ready();
      const { session: idle } = await connectTls(url, ca);
      const { session: silent } = await connectTls(url, ca);
      try {
        expect((await h2request(idle, "/pid")).status).toBe(200);
        expect(await closedWithin(idle, 5000)).toBe("closed");
        expect(await closedWithin(silent, 5000)).toBe("closed");
      } finally {
        idle.destroy();
        silent.destroy();
      }
    });

    nodeHttp2("--limit-request-body and --body-timeout bound an HTTP/2 request body: 413 (with or without Content-Length), 408, and the app's read fails", async () => {
      const server = start([...tlsArgs, "--limit-request-body", "1000", "--body-timeout", "1", "--header-timeout", "1"]);
      const url = await server.ready();
      const { session } = await connectTls(url, ca);
      try {
        const said = await h2request(session, "/upload", { method: "POST", body: "x".repeat(2000), headers: { "content-length": "2000" } });
        expect(said.status).toBe(413);
        // No Content-Length: DATA frames bound while they stream, as chunks are in HTTP/1.1.
        const streamed = await h2request(session, "/upload", { method: "POST", body: "x".repeat(2000) });
        expect(streamed.status).toBe(413);
        expect((await h2request(session, "/upload", { method: "POST", body: "x".repeat(500) })).body).toContain('"bytes":500');
        // A body that stops coming: 408, whole, and the app's read fails rather than end as if complete.
        const stalled = await new Promise<Reply>((resolve, reject) => {
          const stream = session.request({ ":path": "/read", ":method": "POST" });
          let status = 0;
          let body = "";
          stream.on("response", (h) => (status = Number(h[":status"])));
          stream.setEncoding("utf8");
          stream.on("data", (chunk: string) => (body += chunk));
          stream.on("end", () => resolve({ status, headers: {}, body }));
          stream.on("error", reject);
          stream.write("abc");
        });
        expect(stalled).toMatchObject({ status: 408, body: "Request Timeout\n" });
        await server.waitFor(/fixture: body read failed: The request body timed out \(--body-timeout\)/);
        expect((await h2request(session, "/pid")).status).toBe(200);
      } finally {
        session.destroy();
      }
    });

    testUnless(!nodeEngine && (noHttp2(runtime, engine) ?? "Deno.serve has no connection cap"))("--worker-connections counts HTTP/2 sessions: at the cap, the oldest idle session is closed to admit a new connection", async () => {
      const server = start([...tlsArgs, "--worker-connections", "1"]);
      const url = await server.ready();
      const { session: first } = await connectTls(url, ca);
      try {
        expect((await h2request(first, "/pid")).status).toBe(200);
        const closed = closedWithin(first, 5000);
        const second = await https1(`${url}/pid`, ca, ["http/1.1"]);
        expect(second.status).toBe(200);
        expect(await closed).toBe("closed");
      } finally {
        first.destroy();
      }
    });

    const h2c = testUnless(noH2c(runtime, engine));
    h2c("h2c with prior knowledge from a trusted peer (127.0.0.1, in the default --forwarded-allow-ips) is served; HTTP/1.1 on the same port too", async () => {
      const server = start([]);
      const url = await server.ready();
      const session = await connectClear(url);
      try {
        const get = await h2request(session, "/echo");
        expect(get.status).toBe(200);
        expect(JSON.parse(get.body).url).toBe(`http://127.0.0.1:${portOf(url)}/echo`);
        const post = await h2request(session, "/upload", { method: "POST", body: "z".repeat(50_000) });
        expect(JSON.parse(post.body).bytes).toBe(50_000);
      } finally {
        session.close();
      }
      expect(await (await fetch(`${url}/pid`)).text()).toBe(String(server.workerPids()[0]));
      if (nodeEngine) await server.waitFor(/"POST \/upload HTTP\/2\.0" 200 /);
    });

    testUnless(h2cFromAnyone(runtime, engine))("h2c from a peer not in --forwarded-allow-ips is refused (400, closed); HTTP/1.1 from it is served", async () => {
      const server = start(["--forwarded-allow-ips", "10.0.0.1"]);
      const url = await server.ready();
      const answer = await sendPreface(portOf(url));
      expect(answer.closed).toBe(true);
      expect(answer.text).toMatch(/^HTTP\/1\.1 400 /);
      expect(await (await fetch(`${url}/pid`)).text()).toBe(String(server.workerPids()[0]));
    });
  });
}
