/**
 * HTTP hardening on the wire: timeouts, connection caps, trusted proxies, the
 * PROXY protocol, TLS and log failures, on every runtime (where a runtime's
 * server cannot, the test is skipped with the reason in its name).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { RawConnection, request } from "../helpers/http.ts";
import { sendRaw } from "../helpers/raw.ts";
import { defaultEngineOnly, type Engine, engineArgs, label, testUnless } from "./engine.ts";
import { alive, killAll, type RuntimeName, Server } from "../helpers/server.ts";
import { makeCerts, type TestCerts } from "../helpers/tls.ts";

const portOf = (url: string) => Number(new URL(url).port);

/** What the node:http engine (Node, Deno) enforces and Bun.serve does not let unicorn set. */
const BUN_OWN_DEADLINES = "Bun.serve keeps its own header deadline, and closes without a 408";

function httpsGet(url: string, options: tls.ConnectionOptions = {}): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode!,
          body: Buffer.concat(chunks).toString(),
          protocol: (res.socket as tls.TLSSocket).getProtocol?.() ?? "",
        })
      );
    });
    req.on("error", reject);
  });
}

/** A log file read as it grows: `until` waits (with a deadline) for a line matching `pattern`. */
function logFile(file: string): { read(): string; until(pattern: RegExp): Promise<RegExpMatchArray> } {
  const read = () => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");
  const until = async (pattern: RegExp) => {
    const deadline = Date.now() + 20_000;
    while (!pattern.test(read())) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} in ${file}:\n${read()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return read().match(pattern)!;
  };
  return { read, until };
}

/** A connection that sends `head` and then nothing, never closing its end; `answered` is what came back first. */
function holdOpen(port: number, head: string): { socket: net.Socket; answered: Promise<string> } {
  const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  socket.on("error", () => {});
  socket.write(head);
  const answered = new Promise<string>((resolve) => {
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("end", () => resolve(text));
    socket.on("close", () => resolve(text));
  });
  return { socket, answered };
}

/** POSTs `bytes` to /upload evenly over `ms`, then returns the whole answer. */
function trickleUpload(port: number, bytes: number, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("close", () => resolve(text));
    socket.on("error", reject);
    socket.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n`);
    const steps = Math.ceil(ms / 100);
    let sent = 0;
    const timer = setInterval(() => {
      const size = Math.min(Math.ceil(bytes / steps), bytes - sent);
      if (size <= 0 || socket.destroyed) return clearInterval(timer);
      socket.write(Buffer.alloc(size, 97));
      sent += size;
    }, 100);
  });
}

export function httpSuite(runtime: RuntimeName, engine?: Engine): void {
  const name = label(runtime, engine);
  const start = (args: string[]) => new Server(runtime, ["app.ts", "-b", "127.0.0.1:0", ...args, ...engineArgs(engine)]);
  /** Deno.serve (`--engine native` on Deno): no deadlines, no connection cap (README's runtime table). */
  const denoServe = runtime === "deno" && engine === "native";
  /** The node:http engine, which reads the connection itself: Node's, Deno's default. */
  const nodeEngine = runtime !== "bun" && !denoServe;
  const nativeName = runtime === "bun" ? "Bun.serve" : "Deno.serve";
  /** Why a deadline unicorn sets cannot be tested on this engine, or false. */
  const noDeadline = (deadline: string) => runtime === "bun" ? BUN_OWN_DEADLINES : denoServe && `Deno.serve has no ${deadline}`;
  const noCap = !nodeEngine && `${nativeName} has no connection cap`;
  // What the arbiter checks before any worker serves is the same whatever the engine: once per runtime.
  const anyEngine = defaultEngineOnly(engine);
  afterEach(killAll);

  describe(`${name}: timeouts and connection caps`, () => {
    testUnless(noDeadline("header deadline"))(
      "a client that never finishes its request head is answered 408 and closed after --header-timeout",
      async () => {
        const server = start(["--header-timeout", "1"]);
        const url = await server.ready();
        const result = await sendRaw(portOf(url), "GET /pid HTTP/1.1\r\nHost: a\r\nX-Slow: ", 8000);
        expect(result.closed).toBe(true);
        expect(result.statuses).toEqual([408]);
      },
    );

    testUnless(noDeadline("body deadline"))(
      "a body that stops arriving is answered 408 after --body-timeout",
      async () => {
        const server = start(["--header-timeout", "1", "--body-timeout", "2"]);
        const url = await server.ready();
        const result = await sendRaw(portOf(url), "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly a little", 10_000);
        expect(result.closed).toBe(true);
        expect(result.statuses).toEqual([408]);
      },
    );

    testUnless(noDeadline("header or body deadline, so never gives up on a connection"))(
      "once it has given up on a connection, a worker releases its descriptor even if the client keeps its end open, and TERM does not wait for it",
      async () => {
        const server = start(["--header-timeout", "1", "--body-timeout", "2", "--graceful-timeout", "20"]);
        const url = await server.ready();
        const worker = server.workerPids()[0]!;
      // Bun has no connection cap: it runs out, notices within a heartbeat, and stops listening.
      if (runtime === "bun") await server.waitFor(/Out of file descriptors/);
        const descriptors = () => fs.readdirSync(`/proc/${worker}/fd`).length;
        const before = descriptors();
        const silent = Array.from({ length: 20 }, (_, i) =>
          holdOpen(portOf(url), i % 2 ? "GET /pid HTTP/1.1\r\nHost: a\r\nX-Slow: " : "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        );
        try {
          const answers = await Promise.all(silent.map((s) => s.answered));
          expect(answers.every((a) => a.startsWith("HTTP/1.1 408 ")), answers.join("\n")).toBe(true);
          const deadline = Date.now() + 5000;
          while (descriptors() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          expect(descriptors(), "descriptors held after the 408s").toBeLessThanOrEqual(before);
          // The app's body reads failed with a clear error rather than hanging.
          await server.waitForCount(/fixture: body read failed: The request body timed out \(--body-timeout\)/, 10);
          server.signal("SIGTERM");
          expect((await server.exited(5000)).code).toBe(0);
        } finally {
          for (const s of silent) s.socket.destroy();
        }
      },
    );

    testUnless(denoServe && "Deno.serve has no body deadline: the read waits for the client")(
      "when a body stops arriving, the app's read of it fails after --body-timeout rather than hang",
      async () => {
      const server = start(["--header-timeout", "1", "--body-timeout", "2"]);
      const url = await server.ready();
      const client = holdOpen(portOf(url), "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
      try {
        // Bun closes the connection (its own error reaches the app); the node:http engine says why.
        await server.waitFor(nodeEngine ? /fixture: body read failed: The request body timed out/ : /fixture: body read failed/, {
          timeout: 15_000,
        });
      } finally {
        client.socket.destroy();
      }
    });

    testUnless(!nodeEngine && `${nativeName} parses the body itself${denoServe ? ", and closes without an answer" : ""}`)(
      "a malformed chunk in the body being read: the client gets 400 at once and the app's read fails",
      async () => {
        const server = start(["--header-timeout", "2", "--body-timeout", "30"]);
        const url = await server.ready();
        const client = holdOpen(portOf(url), "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n");
        try {
          const answer = await Promise.race([
            client.answered,
            new Promise<string>((resolve) => setTimeout(() => resolve("no answer within 5 s"), 5000)),
          ]);
          expect(answer).toMatch(/^HTTP\/1\.1 400 /);
          await server.waitFor(/fixture: body read failed: The request body is malformed/);
        } finally {
          client.socket.destroy();
        }
      },
    );

    test("a steady upload that lasts longer than --keep-alive is not cut", async () => {
      const server = start(["--keep-alive", "1", "--header-timeout", "1", "--body-timeout", "30"]);
      const url = await server.ready();
      const reply = await trickleUpload(portOf(url), 2048, 3000);
      expect(reply).toMatch(/^HTTP\/1\.1 200 /);
      expect(reply).toContain('{"bytes":2048,');
    });

    testUnless(denoServe && "Deno.serve has no keep-alive timeout")("an idle keep-alive connection is closed after --keep-alive", async () => {
      const server = start(["--keep-alive", "1"]);
      const url = await server.ready();
      const result = await sendRaw(portOf(url), "GET /pid HTTP/1.1\r\nHost: a\r\n\r\n", 8000);
      expect(result.statuses).toEqual([200]);
      expect(result.closed, "closed by the server before the client's deadline").toBe(true);
    });

    testUnless(noCap)(
      "--worker-connections caps a worker's connections with a request in flight; it serves again once some finish",
      async () => {
        const server = start(["--worker-connections", "2", "-w", "1"]);
        const url = await server.ready();
        const port = portOf(url);
        const busy = [new RawConnection(port), new RawConnection(port)];
        for (const connection of busy) connection.send("/slow?ms=1500");
        await server.waitForCount(/fixture: slow request started/, 2);
        const refused = await sendRaw(port, "GET /pid HTTP/1.1\r\nHost: a\r\n\r\n", 5000);
        expect(refused.closed).toBe(true);
        expect(refused.statuses).toEqual([]);
        for (const connection of busy) expect((await connection.read()).status).toBe(200);
        // Both are idle now: a new client takes the place of the oldest.
        const served = await sendRaw(port, "GET /pid HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5000);
        expect(served.statuses).toEqual([200]);
        for (const connection of busy) connection.close();
      },
    );

    testUnless(noCap)(
      "at the cap, the oldest idle keep-alive connection is closed to admit a new client",
      async () => {
        const server = start(["--worker-connections", "2", "-w", "1"]);
        const url = await server.ready();
        const port = portOf(url);
        const [oldest, younger] = [new RawConnection(port), new RawConnection(port)];
        oldest.send("/pid");
        expect((await oldest.read()).status).toBe(200);
        younger.send("/pid");
        expect((await younger.read()).status).toBe(200);
        const served = await sendRaw(port, "GET /pid HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5000);
        expect(served.statuses).toEqual([200]);
        await oldest.closed;
        // The younger one is still open and served.
        younger.send("/pid");
        expect((await younger.read()).status).toBe(200);
        younger.close();
      },
    );
  });

  describe(`${name}: refusals`, () => {
    test("a refused request is logged the same way on every engine: an access-log line and a debug line", async () => {
      const server = start(["--limit-request-line", "64", "--access-logfile", "-", "--log-level", "debug"]);
      const url = await server.ready();
      // Deno.serve keeps the connection open after a refusal: the client ends its side (as in the corpus).
      const raw = `GET /${"a".repeat(80)}?q=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: probe\r\n\r\n`;
      const result = await sendRaw(portOf(url), raw, 5000, "127.0.0.1", denoServe);
      expect(result.statuses).toEqual([414]);
      await server.waitFor(/Refused a request from 127\.0\.0\.1: 414, /);
      const [line] = await server.waitFor(new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "GET /a{80}\\?q=1 HTTP/1\\.1" 414 \\d+ "-" "probe"$`));
      expect(line).toBeDefined();
    });
  });

  describe(`${name}: trusted proxies`, () => {
    test("X-Forwarded-Proto and X-Forwarded-For from a trusted peer set the URL's scheme and the client address", async () => {
      const server = start([]);
      const url = await server.ready();
      const reply = await request(`${url}/echo?q=1`, {
        headers: { "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.1, 203.0.113.7" },
      });
      const echo = JSON.parse(reply.body);
      expect(echo.url).toBe(`${url.replace("http:", "https:")}/echo?q=1`);
      expect(echo.remote).toBe("203.0.113.7");
    });

    testUnless(runtime !== "bun" && "Bun's idiom: only Bun.serve gives fetch the server as its second argument")(
      "Bun's own idiom: server.requestIP(request) on fetch's second argument names the client decided, server.timeout works",
      async () => {
        const server = new Server(runtime, ["bun-idiom.ts", "-b", "127.0.0.1:0", ...engineArgs(engine)]);
        const url = await server.ready();
        expect(JSON.parse((await request(url)).body)).toEqual({ ip: "127.0.0.1", family: "IPv4" });
        const proxied = await request(url, { headers: { "x-forwarded-for": "203.0.113.7" } });
        expect(JSON.parse(proxied.body)).toEqual({ ip: "203.0.113.7", family: "IPv4" });
      },
    );

    test("Forwarded (RFC 7239) from a trusted peer sets them too", async () => {
      const server = start([]);
      const url = await server.ready();
      const reply = await request(`${url}/echo`, { headers: { forwarded: 'for="[2001:db8::1]:4711";proto=https' } });
      const echo = JSON.parse(reply.body);
      expect(echo.url.startsWith("https://")).toBe(true);
      expect(echo.remote).toBe("2001:db8::1");
    });

    test("contradicting scheme headers are answered 400 and never reach the app", async () => {
      const server = start([]);
      const url = await server.ready();
      const reply = await request(`${url}/echo`, { headers: { "x-forwarded-proto": "https", "x-forwarded-ssl": "off" } });
      expect(reply.status).toBe(400);
      expect(reply.body).not.toContain("url");
    });

    test("from a peer not in --forwarded-allow-ips the headers pass through untouched", async () => {
      const server = start(["--forwarded-allow-ips", "10.0.0.0/8"]);
      const url = await server.ready();
      const reply = await request(`${url}/echo`, { headers: { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7" } });
      const echo = JSON.parse(reply.body);
      expect(echo.url.startsWith("http://")).toBe(true);
      expect(echo.remote).toMatch(/127\.0\.0\.1/);
      expect(echo.headers["x-forwarded-for"]).toBe("203.0.113.7");
    });

    anyEngine("a bad --forwarded-allow-ips exits 2 naming the entry", async () => {
      const server = start(["--forwarded-allow-ips", "10.0.0.300"]);
      const { code } = await server.exited();
      expect(code).toBe(2);
      expect(server.log).toMatch(/--forwarded-allow-ips.*"10\.0\.0\.300"/);
    });
  });

  describe(`${name}: PROXY protocol`, () => {
    const v2Header = (() => {
      const header = Buffer.alloc(28);
      Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(header);
      header[12] = 0x21; // v2, PROXY
      header[13] = 0x11; // TCP over IPv4
      header.writeUInt16BE(12, 14);
      Buffer.from([192, 0, 2, 44]).copy(header, 16);
      Buffer.from([127, 0, 0, 1]).copy(header, 20);
      header.writeUInt16BE(40000, 24);
      header.writeUInt16BE(80, 26);
      return header.toString("latin1");
    })();
    const echoRequest = "GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

    if (!nodeEngine) {
      test(`--proxy-protocol exits 2 with ${nativeName}, which reads the connection itself`, async () => {
        const server = start(["--proxy-protocol", "v1"]);
        const { code } = await server.exited();
        expect(code).toBe(2);
        expect(server.log).toMatch(new RegExp(`--proxy-protocol.*${nativeName.replace(".", "\\.")}`));
      });
      return;
    }

    test("v1 and v2 headers name the client; a request without one is served as is (auto)", async () => {
      const server = start(["--proxy-protocol", "auto"]);
      const port = portOf(await server.ready());
      const v1 = await sendRaw(port, `PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n${echoRequest}`);
      expect(JSON.parse(v1.text.slice(v1.text.indexOf("{"))).remote).toBe("203.0.113.9");
      const v2 = await sendRaw(port, v2Header + echoRequest);
      expect(JSON.parse(v2.text.slice(v2.text.indexOf("{"))).remote).toBe("192.0.2.44");
      const plain = await sendRaw(port, echoRequest);
      expect(JSON.parse(plain.text.slice(plain.text.indexOf("{"))).remote).toMatch(/127\.0\.0\.1/);
    });

    test("a malformed PROXY header, or none where one is required, is answered 400 and closed", async () => {
      const server = start(["--proxy-protocol", "v1"]);
      const port = portOf(await server.ready());
      const bad = await sendRaw(port, `PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n${echoRequest}`);
      expect(bad.statuses).toEqual([400]);
      expect(bad.closed).toBe(true);
      expect(bad.text).not.toContain("remote");
      const missing = await sendRaw(port, echoRequest);
      expect(missing.statuses).toEqual([400]);
      expect(missing.text).not.toContain("remote");
    });

    test("a peer outside --proxy-allow-from cannot send a PROXY header", async () => {
      const server = start(["--proxy-protocol", "v1", "--proxy-allow-from", "10.0.0.1"]);
      const port = portOf(await server.ready());
      const spoof = await sendRaw(port, `PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n${echoRequest}`);
      expect(spoof.statuses).toEqual([400]);
      const plain = await sendRaw(port, echoRequest);
      expect(JSON.parse(plain.text.slice(plain.text.indexOf("{"))).remote).toMatch(/127\.0\.0\.1/);
    });
  });

  describe(`${name}: TLS`, () => {
    let certs: TestCerts;
    beforeAll(() => {
      certs = makeCerts();
    });
    afterAll(() => fs.rmSync(certs.dir, { recursive: true, force: true }));

    test("serves HTTPS with --certfile and --keyfile, TLS 1.2 at least", async () => {
      const server = start(["--certfile", certs.cert, "--keyfile", certs.key]);
      const url = (await server.ready()).replace("http:", "https:");
      expect(url.startsWith("https://")).toBe(true);
      const reply = await httpsGet(`${url}/echo`, { ca: fs.readFileSync(certs.ca) });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body).url.startsWith("https://")).toBe(true);
      expect(reply.protocol).toMatch(/TLSv1\.[23]/);
      await expect(httpsGet(`${url}/pid`, { ca: fs.readFileSync(certs.ca), maxVersion: "TLSv1.1", minVersion: "TLSv1" }))
        .rejects.toThrow();
    });

    testUnless(denoServe && "Deno.serve has no handshake or header deadline")("a TLS client that never sends its ClientHello is closed after --header-timeout", async () => {
      const server = start(["--certfile", certs.cert, "--keyfile", certs.key, "--header-timeout", "1"]);
      const url = await server.ready();
      const silent = holdOpen(portOf(url), "");
      try {
        // Bun closes it by its own deadline (about 10 s); the node:http engine by --header-timeout.
        const closed = await Promise.race([
          silent.answered.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), nodeEngine ? 5000 : 20_000)),
        ]);
        expect(closed, "the server closed the silent connection").toBe(true);
      } finally {
        silent.socket.destroy();
      }
    });

    if (runtime === "deno" && !engine) {
      test("--cert-reqs and --ciphers exit 2 on Deno, whose TLS stack takes neither", async () => {
        const server = start(["--certfile", certs.cert, "--keyfile", certs.key, "--ca-certs", certs.ca, "--cert-reqs", "required"]);
        expect((await server.exited()).code).toBe(2);
        expect(server.log).toMatch(/--cert-reqs required.*deno/);
      });
    }
    if (!engine) (runtime === "deno" ? test.skip : test)(`--cert-reqs required refuses a client without a certificate signed by --ca-certs${
      runtime === "deno" ? " (skipped: Deno's TLS server does not ask for client certificates)" : ""
    }`, async () => {
      const server = start(["--certfile", certs.cert, "--keyfile", certs.key, "--ca-certs", certs.ca, "--cert-reqs", "required"]);
      const url = (await server.ready()).replace("http:", "https:");
      const ca = fs.readFileSync(certs.ca);
      await expect(httpsGet(`${url}/pid`, { ca })).rejects.toThrow();
      const reply = await httpsGet(`${url}/pid`, { ca, cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) });
      expect(reply.status).toBe(200);
    });

    if (!engine) (runtime === "deno" ? test.skip : test)(`--ciphers limits the TLS 1.2 suites${
      runtime === "deno" ? " (skipped: Deno's rustls has a fixed list)" : ""
    }`, async () => {
      const server = start(["--certfile", certs.cert, "--keyfile", certs.key, "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"]);
      const url = (await server.ready()).replace("http:", "https:");
      const ca = fs.readFileSync(certs.ca);
      const tls12 = { ca, maxVersion: "TLSv1.2" as const };
      await expect(httpsGet(`${url}/pid`, { ...tls12, ciphers: "ECDHE-RSA-AES256-GCM-SHA384" })).rejects.toThrow();
      expect((await httpsGet(`${url}/pid`, { ...tls12, ciphers: "ECDHE-RSA-AES128-GCM-SHA256" })).status).toBe(200);
    });

    // The node:http engine's HTTP/2 (node:http2) is tested in http2-suite.ts, Bun.serve's absence of it too.
    testUnless(!denoServe && `${nodeEngine ? "node:http2 serves it: http2-suite.ts" : `${nativeName} serves HTTP/1.1 only`}`)("HTTP/2 over TLS (ALPN) with Deno.serve", async () => {
      const server = start(["--certfile", certs.cert, "--keyfile", certs.key]);
      const url = (await server.ready()).replace("http:", "https:");
      const session = http2.connect(url, { ca: fs.readFileSync(certs.ca) });
      try {
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const stream = session.request({ ":path": "/echo" });
          let status = 0;
          let body = "";
          stream.on("response", (headers) => (status = Number(headers[":status"])));
          stream.setEncoding("utf8");
          stream.on("data", (chunk: string) => (body += chunk));
          stream.on("end", () => resolve({ status, body }));
          stream.on("error", reject);
          stream.end();
        });
        expect(status).toBe(200);
        expect(JSON.parse(body).url.startsWith("https://")).toBe(true);
      } finally {
        session.close();
      }
    });

    anyEngine("a missing key file exits 2 naming it", async () => {
      for (const extra of [[], ["--check-config"]]) {
        const server = start(["--certfile", certs.cert, "--keyfile", `${certs.dir}/nope.key`, ...extra]);
        const { code } = await server.exited();
        expect(code).toBe(2);
        expect(server.log).toMatch(/--keyfile ".*nope\.key"/);
      }
    });
  });

  describe(`${name}: resource exhaustion`, () => {
    const survives = runtime !== "deno";
    testUnless(denoServe && "Deno.serve's accept loop always dies out of descriptors: the next test checks the replacement")(`out of file descriptors, a worker ${
      survives ? "keeps running and serves again once connections close"
        : "keeps running, or, if its accept loop died (Deno's node:net on EMFILE), is replaced; the server serves again"
    }`, async () => {
      const server = new Server(runtime, ["app.ts", "-b", "127.0.0.1:0", "-w", "1", ...engineArgs(engine)], { wrap: ["prlimit", "--nofile=80:80"] });
      const url = await server.ready();
      const port = portOf(url);
      const before = (await request(`${url}/pid`)).body;
      await server.waitFor(/capping at 16/);
      const flood = Array.from({ length: 150 }, () => net.connect(port, "127.0.0.1"));
      await Promise.all(flood.map((socket) =>
        new Promise<void>((resolve) => {
          socket.once("connect", () => resolve());
          socket.once("error", () => resolve());
          socket.once("close", () => resolve());
        })
      ));
      // While the flood holds its connections, the worker does not spin (Bun's accept loop did, at a
      // whole core, before it learned to stop listening until descriptors are free).
      const worker = server.workerPids()[0]!;
      // Bun has no connection cap: it runs out, notices within a heartbeat, and stops listening.
      if (runtime === "bun") await server.waitFor(/Out of file descriptors/);
      const cpu = () => {
        const fields = fs.readFileSync(`/proc/${worker}/stat`, "utf8").split(") ")[1]!.split(" ");
        return Number(fields[11]) + Number(fields[12]);
      };
      if (alive(worker)) {
        const [ticks, at] = [cpu(), Date.now()];
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const share = (cpu() - ticks) / ((Date.now() - at) / 10);
        console.info(`${runtime}: worker CPU while out of descriptors: ${Math.round(share * 100)} % of a core`);
        if (alive(worker)) expect(share, "share of a core used while out of descriptors").toBeLessThan(0.5);
      }
      for (const socket of flood) socket.destroy();
      // Serves again: retried with a deadline while the worker recovers (or is replaced).
      const deadline = Date.now() + 15_000;
      let after = "";
      while (Date.now() < deadline) {
        // Refused while a paused listener waits for descriptors (Bun): try again.
        const result = await sendRaw(port, "GET /pid HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1000)
          .catch(() => ({ statuses: [] as number[], text: "" }));
        if (result.statuses[0] === 200) {
          after = result.text.slice(result.text.indexOf("\r\n\r\n") + 4);
          break;
        }
      }
      expect(after, server.log).toMatch(/^\d+$/);
      expect(server.log).not.toMatch(/exited with code/);
      if (survives) expect(after).toBe(before);
      // Deno's accept loop dies only when an accept itself hits EMFILE, which depends on timing:
      // either the worker went on, or its stall was noticed and a replacement serves.
      else if (after !== before) await server.waitFor(/stopped accepting connections; starting its replacement/);
    });
  });

  describe(`${name}: a listener that dies`, () => {
    testUnless(!denoServe && `Deno.serve only: the test above covers ${name}`)("with --engine native, a worker whose listener died out of descriptors is replaced", async () => {
      const server = new Server(runtime, ["app.ts", "-b", "127.0.0.1:0", "-w", "1", ...engineArgs(engine)], {
        wrap: ["prlimit", "--nofile=80:80"],
      });
      const url = await server.ready();
      const port = portOf(url);
      const flood = Array.from({ length: 150 }, () => net.connect(port, "127.0.0.1").on("error", () => {}));
      try {
        await server.waitFor(/The server stopped accepting connections \(the listener died: Too many open files/);
        await server.waitFor(/stopped accepting connections; starting its replacement/);
      } finally {
        for (const socket of flood) socket.destroy();
      }
      await server.waitForCount(/is serving/, 2);
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = (await sendRaw(port, "GET /pid HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1000)
          .catch(() => ({ statuses: [0] }))).statuses[0] ?? 0;
      }
      expect(status, server.log).toBe(200);
    });
  });

  describe(`${name}: logging failures`, () => {
    anyEngine("--capture-output sends the app's console output to the --error-logfile file", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-capture-"));
      const file = path.join(dir, "error.log");
      try {
        start(["--error-logfile", file, "--capture-output"]);
        const { read, until } = logFile(file);
        const [, url] = await until(/Listening at: (\S+)/);
        await until(/is serving/);
        expect((await request(`${url}/slow?ms=1`)).status).toBe(200);
        await until(/fixture: slow request started/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test("an app printing to a full device never fails a request or loses its worker, and the loss is said", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-full-"));
      const file = path.join(dir, "error.log");
      try {
        // The workers inherit standard output and error on /dev/full; unicorn's own log goes to a file.
        const server = new Server(runtime, ["app.ts", "-b", "127.0.0.1:0", "--error-logfile", file, ...engineArgs(engine)], {
          wrap: ["sh", "-c", 'exec "$@" >/dev/full 2>&1', "sh"],
        });
        const { read, until } = logFile(file);
        const [, url] = await until(/Listening at: (\S+)/);
        await until(/is serving/);
        const pids = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const reply = await request(`${url}/log`);
          expect(reply.status, read()).toBe(200);
          pids.add(reply.body);
        }
        expect(pids.size, "one worker served them all").toBe(1);
        if (runtime !== "bun") await until(/Cannot write the app's standard output or error \(10 writes lost so far\)/);
        expect(read()).not.toMatch(/Uncaught|CRITICAL/);
        server.signal("SIGTERM");
        expect((await server.exited()).code).toBe(0);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test("an access log on a full disk loses lines, never requests, and says so", async () => {
      const server = start(["--access-logfile", "/dev/full"]);
      const url = await server.ready();
      const replies = await Promise.all(Array.from({ length: 20 }, () => request(`${url}/pid`)));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      expect(new Set(replies.map((r) => r.body)).size).toBe(1);
      await server.waitFor(/Cannot write the access log/);
    });
  });
}
