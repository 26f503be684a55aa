/**
 * WebSockets in each runtime's own idiom through unicorn: Bun's `export default { fetch, websocket }`
 * with `server.upgrade`, Deno's `Deno.upgradeWebSocket` (Deno.serve), and Hono's helpers for each. The
 * handshake goes through the HTTP policy like any request; the access log gives it 101.
 *
 * A graceful stop or a reload closes open WebSockets with 1001 (going away) once the worker drains, and
 * the new generation takes new ones.
 *
 * On node:http (Node, Deno's default engine, Bun for Node-style apps) a Node-style app's `ws`, attached
 * to the http.Server it exports, gets the handshakes. Not built yet, skipped with the reason: a Fetch app
 * upgrading on node:http; not tested yet: an idle timeout, a message size limit, telling the app first.
 */
import http from "node:http";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocketClient } from "../helpers/websocket.ts";
import { killAll, type RuntimeName, Server } from "../helpers/server.ts";
import { type Engine, engineArgs, label, testUnless } from "./engine.ts";

/** Why this runtime and engine cannot upgrade yet; undefined where it can. */
function unsupported(runtime: RuntimeName, engine: Engine | undefined): string | undefined {
  if (runtime === "bun" && engine !== "node") return undefined;
  if (runtime === "deno" && engine === "native") return undefined;
  return runtime === "node"
    ? "a Fetch app on node:http has no upgrade yet: a Node-style app's ws is served, below"
    : "a Fetch app on the node:http engine has no upgrade yet; Deno.upgradeWebSocket needs --engine native";
}

const portOf = (url: string) => Number(new URL(url).port);

/** The status line a handshake got when it was not upgraded; "upgraded" when it was. */
function handshakeStatus(port: number, path: string, headers?: Record<string, string>): Promise<string> {
  return WebSocketClient.open(port, path, headers).then(
    (ws) => (ws.destroy(), "upgraded"),
    (error: Error & { head?: string }) => error.head?.split("\r\n")[0] ?? error.message,
  );
}

/** Why a Node-style app's `ws` cannot run here; undefined where node:http serves it. */
function nodeStyleUnsupported(engine: Engine | undefined): string | undefined {
  return engine === "native" ? "Node-style apps are served by node:http, not Deno.serve" : undefined;
}

export function websocketSuite(runtime: RuntimeName, engine?: Engine): void {
  const name = label(runtime, engine);
  const it = testUnless(unsupported(runtime, engine));
  const start = (app: string, args: string[] = []) =>
    new Server(runtime, [app, "-b", "127.0.0.1:0", "--access-logfile", "-", ...args, ...engineArgs(engine)]);

  describe(`${name}: WebSockets`, () => {
    afterEach(() => killAll());

    const denoNodeHttp = runtime === "deno" && engine !== "native" ? test : test.skip;
    denoNodeHttp(`Deno's node:http engine: Deno.upgradeWebSocket answers 500 and the log says to use --engine native${runtime === "deno" && engine !== "native" ? "" : " (skipped: Deno's default engine only)"}`, async () => {
      const server = start("websocket-app.ts");
      const url = await server.ready();
      const refused = await handshakeStatus(portOf(url), "/ws");
      expect(refused).toMatch(/^HTTP\/1\.1 500 /);
      await server.waitFor(/Deno\.upgradeWebSocket needs Deno\.serve: start unicorn with --engine native/);
    });

    const nodeStyle = testUnless(nodeStyleUnsupported(engine));
    nodeStyle("a Node-style app: ws attached to the exported http.Server (Express beside it); TERM closes with 1001", async () => {
      const server = start("ws-express.ts", ["--graceful-timeout", "30"]);
      const url = await server.ready();
      await server.waitFor(/App: an http\.Server with upgrade listeners/);
      const ws = await WebSocketClient.open(portOf(url), "/ws");
      expect((await ws.next()).text).toBe("welcome 127.0.0.1");
      ws.send("ping");
      expect((await ws.next()).text).toBe("echo ping");
      expect(await (await fetch(`${url}/`)).text()).toBe("hello\n");
      // The policy reads the handshake's head as a request's.
      const refused = await handshakeStatus(portOf(url), "/ws", { "Content-Length": "1, 2" });
      expect(refused).toMatch(/^HTTP\/1\.1 400 /);
      server.signal("SIGTERM");
      const frame = await ws.next();
      expect([frame.opcode, frame.code]).toEqual([0x8, 1001]);
      expect((await server.exited()).code).toBe(0);
      ws.destroy();
    });

    it("the runtime's own idiom: a 101 with the right accept key, the open and message handlers, plain requests beside", async () => {
      const server = start("websocket-app.ts");
      const url = await server.ready();
      const ws = await WebSocketClient.open(portOf(url), "/ws");
      expect((await ws.next()).text).toBe("welcome");
      ws.send("ping");
      expect((await ws.next()).text).toBe("echo ping");
      ws.send("x".repeat(300));
      expect((await ws.next()).text).toBe(`echo ${"x".repeat(300)}`);
      // The access log has the handshake, as 101.
      await server.waitFor(/"GET \/ws HTTP\/1\.1" 101 /);
      const plain = await fetch(`${url}/`);
      expect(await plain.text()).toBe("hello\n");
      ws.close();
      ws.destroy();
    });

    nodeStyle("a Node-style app's ws on HUP: the old worker says 1001, the new generation takes new sockets", async () => {
      const server = start("ws-express.ts");
      const url = await server.ready();
      const old = await WebSocketClient.open(portOf(url), "/ws");
      expect((await old.next()).text).toBe("welcome 127.0.0.1");
      server.signal("SIGHUP");
      expect((await old.next()).code).toBe(1001);
      await server.waitFor(/Reload complete/);
      const fresh = await WebSocketClient.open(portOf(url), "/ws");
      expect((await fresh.next()).text).toBe("welcome 127.0.0.1");
      old.destroy();
      fresh.destroy();
    });

    it("TERM closes an open WebSocket with 1001 (going away) and the worker exits without waiting for --graceful-timeout", async () => {
      const server = start("websocket-app.ts", ["--graceful-timeout", "30"]);
      const url = await server.ready();
      const ws = await WebSocketClient.open(portOf(url), "/ws");
      expect((await ws.next()).text).toBe("welcome");
      server.signal("SIGTERM");
      const frame = await ws.next();
      expect(frame.opcode).toBe(0x8);
      expect(frame.code).toBe(1001);
      expect((await server.exited()).code).toBe(0);
      expect(server.lines.some((line) => /Connections still open/.test(line))).toBe(false);
      ws.destroy();
    });

    it("HUP: an open WebSocket gets 1001 from the old worker, and the new generation takes new ones", async () => {
      const server = start("websocket-app.ts");
      const url = await server.ready();
      const old = await WebSocketClient.open(portOf(url), "/ws");
      expect((await old.next()).text).toBe("welcome");
      server.signal("SIGHUP");
      expect((await old.next()).code).toBe(1001);
      await server.waitFor(/Reload complete/);
      const fresh = await WebSocketClient.open(portOf(url), "/ws");
      expect((await fresh.next()).text).toBe("welcome");
      fresh.send("after the reload");
      expect((await fresh.next()).text).toBe("echo after the reload");
      old.destroy();
      fresh.destroy();
    });

    it("Hono's upgradeWebSocket helper for the runtime", async () => {
      const server = start("websocket-hono.ts");
      const url = await server.ready();
      const ws = await WebSocketClient.open(portOf(url), "/ws");
      expect((await ws.next()).text).toBe("welcome");
      ws.send("hi");
      expect((await ws.next()).text).toBe("hono hi");
      ws.destroy();
    });

    it("the handshake goes through the HTTP policy: a request line over --limit-request-line is 414, not upgraded", async () => {
      const server = start("websocket-app.ts", ["--limit-request-line", "100"]);
      const url = await server.ready();
      const refused = await handshakeStatus(portOf(url), `/ws?pad=${"a".repeat(200)}`);
      expect(refused).toMatch(/^HTTP\/1\.1 414 /);
      // The same handshake within the limit is upgraded.
      const ws = await WebSocketClient.open(portOf(url), "/ws?pad=a");
      expect((await ws.next()).text).toBe("welcome");
      ws.destroy();
    });

    it("the handshake of a trusted proxy's client: the app's upgrade works on the request the policy rebuilt (X-Forwarded-Proto)", async () => {
      const server = start("websocket-app.ts", ["--forwarded-allow-ips", "127.0.0.1"]);
      const url = await server.ready();
      const ws = await WebSocketClient.open(portOf(url), "/ws", { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" });
      expect((await ws.next()).text).toBe("welcome");
      ws.send("behind a proxy");
      expect((await ws.next()).text).toBe("echo behind a proxy");
      await server.waitFor(/^203\.0\.113\.9 .*"GET \/ws HTTP\/1\.1" 101 /m);
      ws.destroy();
    });
  });

  describe(`${name}: server-sent events`, () => {
    afterEach(() => killAll());

    /** Reads an event stream until it ends (or is cut); `onEvent` sees each event as it comes. */
    const listen = (url: string, onEvent: (event: string) => void) =>
      new Promise<{ events: string[]; ended: boolean }>((resolve, reject) => {
        const events: string[] = [];
        http.get(`${url}/events`, (res) => {
          let buffer = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const event = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              events.push(event);
              onEvent(event);
            }
          });
          res.on("end", () => resolve({ events, ended: true }));
          res.on("aborted", () => resolve({ events, ended: false }));
          res.on("error", () => resolve({ events, ended: false }));
        }).on("error", reject);
      });

    test("a stream outlives --request-timeout once its head is sent, and the app hears of a client that leaves", async () => {
      const server = start("sse-app.ts", ["--request-timeout", "1"]);
      const url = await server.ready();
      const request = http.get(`${url}/events`);
      const seen = await new Promise<number>((resolve) => {
        request.on("response", (res) => {
          let count = 0;
          res.on("data", (chunk: Buffer) => {
            count += (chunk.toString().match(/^data: /gm) ?? []).length;
            // 30 events at 50 ms: 1.5 s, past the 1 s request timeout.
            if (count >= 30) resolve(count);
          });
        });
      });
      expect(seen).toBeGreaterThanOrEqual(30);
      request.destroy();
      await server.waitFor(/fixture: client left after \d+ events/);
    });

    test("TERM: the app ends its stream with a last event (shutdownSignal), the client sees a clean end, the worker exits at once", async () => {
      const server = start("sse-app.ts", ["--graceful-timeout", "30"]);
      const url = await server.ready();
      let first: () => void;
      const started = new Promise<void>((resolve) => (first = resolve));
      const stream = listen(url, () => first());
      await started;
      server.signal("SIGTERM");
      const { events, ended } = await stream;
      expect(ended).toBe(true);
      expect(events.at(-1)).toBe("event: bye\ndata: the server is stopping");
      expect((await server.exited()).code).toBe(0);
      expect(server.lines.some((line) => /Connections still open/.test(line))).toBe(false);
    });
  });
}
