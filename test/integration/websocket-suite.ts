/**
 * WebSockets through unicorn, each way an app can take them:
 * - unicorn's `upgradeWebSocket` (Deno's shape), one app for every runtime and engine;
 * - the runtime's own idiom: Bun's `export default { fetch, websocket }` with `server.upgrade`, Deno's
 *   `Deno.upgradeWebSocket` (on Deno.serve, and on Deno's node:http engine through unicorn's), Hono's
 *   helper for each;
 * - a Node-style app's `ws` (and @hono/node-ws) attached to the http.Server it exports (node:http).
 * The handshake goes through the HTTP policy like any request; the access log gives it 101. unicorn's
 * limits (--websocket-max-message: 1009; --websocket-idle-timeout: pings, then 1001) and counts apply to
 * each; a graceful stop or a reload tells the app (shutdownSignal), then closes with 1001, and the new
 * generation takes new sockets.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocketClient } from "../helpers/websocket.ts";
import { killAll, type RuntimeName, Server } from "../helpers/server.ts";
import { type Engine, engineArgs, label, testUnless } from "./engine.ts";
import { ctl, until } from "./observability-suite.ts";

/** Why the runtime's own WebSocket idiom cannot run here; undefined where it can. */
function unsupported(runtime: RuntimeName, engine: Engine | undefined): string | undefined {
  if (runtime === "node") return "Node has no Fetch WebSocket idiom of its own: upgradeWebSocket and ws are tested";
  if (runtime === "bun" && engine === "node") return "Bun's server.upgrade belongs to Bun.serve; upgradeWebSocket is tested";
  return undefined;
}

const portOf = (url: string) => Number(new URL(url).port);

/** The status line a handshake got when it was not upgraded; "upgraded" when it was. */
function handshakeStatus(port: number, path: string, headers?: Record<string, string>): Promise<string> {
  return WebSocketClient.open(port, path, headers).then(
    (ws) => (ws.destroy(), "upgraded"),
    (error: Error & { head?: string }) => error.head?.split("\r\n")[0] ?? error.message,
  );
}

/** Why a Node-style app's `ws` is not tested here; undefined where node:http serves it. */
function nodeStyleUnsupported(runtime: RuntimeName, engine: Engine | undefined): string | undefined {
  if (engine === "native") return "Node-style apps are served by node:http, not Deno.serve";
  // Bun serves a Node-style app with node:http whatever the engine: run once, on the default.
  if (runtime === "bun" && engine === "node") return "the same as on Bun's default engine";
  return undefined;
}

export function websocketSuite(runtime: RuntimeName, engine?: Engine): void {
  const name = label(runtime, engine);
  const it = testUnless(unsupported(runtime, engine));
  const start = (app: string, args: string[] = []) =>
    new Server(runtime, [app, "-b", "127.0.0.1:0", "--access-logfile", "-", ...args, ...engineArgs(engine)]);

  describe(`${name}: WebSockets`, () => {
    afterEach(() => killAll());

    const nodeStyle = testUnless(nodeStyleUnsupported(runtime, engine));

    test("upgradeWebSocket (portable): echo, binary, the subprotocol, the app's own close code, 101 in the access log, plain requests beside", async () => {
      const server = start("websocket-portable.ts");
      const url = await server.ready();
      const ws = await WebSocketClient.open(portOf(url), "/ws?name=ada", { "Sec-WebSocket-Protocol": "x, chat" });
      expect(ws.head).toMatch(/^sec-websocket-protocol: chat\r?$/im);
      expect((await ws.next()).text).toBe("welcome ada");
      ws.send("ping");
      expect((await ws.next()).text).toBe("echo ping");
      ws.sendBinary(Buffer.alloc(70_000, 1));
      expect((await ws.next()).text).toBe("binary 70000");
      ws.send("protocol?");
      expect((await ws.next()).text).toBe("protocol chat");
      await server.waitFor(/"GET \/ws\?name=ada HTTP\/1\.1" 101 /);
      // A request to the endpoint that is no handshake gets the app's answer; the worker serves on.
      const plain = await fetch(`${url}/ws`);
      expect(plain.status).toBe(426);
      expect(await (await fetch(`${url}/`)).text()).toBe("hello\n");
      ws.send("bye");
      const frame = await ws.next();
      expect([frame.opcode, frame.code, frame.text]).toEqual([0x8, 4000, "bye"]);
      // The client answers the close, as clients do; the app's close event has the code.
      ws.close(4000);
      await ws.ended();
      await server.waitFor(/fixture: closed 4000/);
    });

    test("upgradeWebSocket (portable): TERM tells the app first (its last message), then 1001; HUP's new generation takes new sockets", async () => {
      const server = start("websocket-portable.ts", ["--graceful-timeout", "30"]);
      const url = await server.ready();
      const old = await WebSocketClient.open(portOf(url), "/ws");
      expect((await old.next()).text).toBe("welcome");
      server.signal("SIGHUP");
      expect((await old.next()).text).toBe("the server is stopping");
      expect((await old.next()).code).toBe(1001);
      await server.waitFor(/Reload complete/);
      const fresh = await WebSocketClient.open(portOf(url), "/ws");
      expect((await fresh.next()).text).toBe("welcome");
      server.signal("SIGTERM");
      expect((await fresh.next()).text).toBe("the server is stopping");
      expect((await fresh.next()).code).toBe(1001);
      expect((await server.exited()).code).toBe(0);
      expect(server.lines.some((line) => /Connections still open/.test(line))).toBe(false);
      old.destroy();
      fresh.destroy();
    });

    test("upgradeWebSocket (portable): a --max-requests recycle does not wait for an open WebSocket: the app is told, then 1001, and the replacement serves", async () => {
      const server = start("websocket-portable.ts", ["--max-requests", "3", "--graceful-timeout", "30"]);
      const url = await server.ready();
      const [first] = server.workerPids();
      const ws = await WebSocketClient.open(portOf(url), "/ws");
      expect((await ws.next()).text).toBe("welcome");
      // The handshake was the first request; two more reach the limit.
      for (let i = 0; i < 2; i++) expect(await (await fetch(`${url}/`)).text()).toBe("hello\n");
      expect((await ws.next()).text).toBe("the server is stopping");
      expect((await ws.next()).code).toBe(1001);
      await server.waitFor(new RegExp(`Worker \\(pid:${first}\\) exited`));
      const fresh = await WebSocketClient.open(portOf(url), "/ws");
      expect((await fresh.next()).text).toBe("welcome");
      fresh.destroy();
      ws.destroy();
    });

    test("upgradeWebSocket (portable): 1,000 WebSockets open on one worker, each echoing (memory per socket printed)", async () => {
      const n = 1000;
      const server = start("websocket-portable.ts", ["--worker-connections", String(n + 100)]);
      const url = await server.ready();
      const [worker] = server.workerPids();
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${worker}/status`, "utf8"))?.[1] ?? NaN);
      const warm = await WebSocketClient.open(portOf(url), "/ws");
      await warm.next();
      const before = rss();
      const sockets: WebSocketClient[] = [];
      try {
        for (let i = 0; i < n; i += 50) {
          const batch = await Promise.all(Array.from({ length: 50 }, () => WebSocketClient.open(portOf(url), "/ws")));
          sockets.push(...batch);
          for (const ws of batch) expect((await ws.next()).text).toBe("welcome");
        }
        for (const [i, ws] of sockets.entries()) ws.send(`m${i}`);
        for (const [i, ws] of sockets.entries()) expect((await ws.next()).text).toBe(`echo m${i}`);
        console.info(`${name}: ${n} WebSockets on one worker, ${((rss() - before) / n).toFixed(1)} KiB each (resident memory)`);
      } finally {
        for (const ws of sockets) ws.destroy();
        warm.destroy();
      }
    }, 120_000);

    test("upgradeWebSocket (portable): the handshake goes through the policy (414) and a trusted proxy's client is the one logged", async () => {
      const server = start("websocket-portable.ts", ["--limit-request-line", "100", "--forwarded-allow-ips", "127.0.0.1"]);
      const url = await server.ready();
      expect(await handshakeStatus(portOf(url), `/ws?pad=${"a".repeat(200)}`)).toMatch(/^HTTP\/1\.1 414 /);
      const ws = await WebSocketClient.open(portOf(url), "/ws", { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" });
      expect((await ws.next()).text).toBe("welcome");
      await server.waitFor(/^203\.0\.113\.9 .*"GET \/ws HTTP\/1\.1" 101 /m);
      ws.destroy();
    });
    nodeStyle("a Node-style app: ws attached to the exported http.Server (Express beside it); TERM closes with 1001", async () => {
      const server = start("ws-express.ts", ["--graceful-timeout", "30"]);
      const url = await server.ready();
      await server.waitFor(/App: an http\.Server with upgrade listeners/);
      const ws = await WebSocketClient.open(portOf(url), "/ws");
      expect((await ws.next()).text).toBe("welcome 127.0.0.1");
      ws.send("ping");
      expect((await ws.next()).text).toBe("echo ping");
      expect(await (await fetch(`${url}/`)).text()).toBe("hello\n");
      // The access log has the handshake ws answered, as 101.
      await server.waitFor(/"GET \/ws HTTP\/1\.1" 101 /);
      // The policy reads the handshake's head as a request's.
      const refused = await handshakeStatus(portOf(url), "/ws", { "Content-Length": "1, 2" });
      expect(refused).toMatch(/^HTTP\/1\.1 400 /);
      server.signal("SIGTERM");
      const frame = await ws.next();
      expect([frame.opcode, frame.code]).toEqual([0x8, 1001]);
      expect((await server.exited()).code).toBe(0);
      ws.destroy();
    });

    nodeStyle("Hono's upgradeWebSocket for Node (@hono/node-ws) on the exported server", async () => {
      const server = start("hono-node-ws.ts");
      const url = await server.ready();
      const ws = await WebSocketClient.open(portOf(url), "/ws");
      expect((await ws.next()).text).toBe("welcome");
      ws.send("hi");
      expect((await ws.next()).text).toBe("hono hi");
      expect(await (await fetch(`${url}/`)).text()).toBe("hello\n");
      // A route that does not upgrade answers the handshake as Hono does: not a 101.
      expect(await handshakeStatus(portOf(url), "/")).toMatch(/^HTTP\/1\.1 200 /);
      await server.waitFor(/"GET \/ws HTTP\/1\.1" 101 /);
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

    /** The two idioms: the runtime's own (Bun.serve, Deno.serve) and a Node-style app's ws (node:http). */
    const idioms = [
      { what: "the runtime's own idiom", test: it, app: "websocket-app.ts", welcome: "welcome", counted: false },
      { what: "a Node-style app's ws", test: nodeStyle, app: "ws-express.ts", welcome: "welcome 127.0.0.1", counted: true },
      { what: "upgradeWebSocket (portable)", test, app: "websocket-portable.ts", welcome: "welcome", counted: true },
    ];
    for (const idiom of idioms) {
      idiom.test(`${idiom.what}: --websocket-max-message closes the WebSocket with 1009 (message too big) on a larger message`, async () => {
        const server = start(idiom.app, ["--websocket-max-message", "1000"]);
        const url = await server.ready();
        const ws = await WebSocketClient.open(portOf(url), "/ws");
        expect((await ws.next()).text).toBe(idiom.welcome);
        ws.send("x".repeat(1000));
        expect((await ws.next()).text).toBe(`echo ${"x".repeat(1000)}`);
        ws.send("y".repeat(1001));
        const frame = await ws.next();
        expect([frame.opcode, frame.code]).toEqual([0x8, 1009]);
        // The worker serves on.
        expect(await (await fetch(`${url}/`)).text()).toBe("hello\n");
        ws.destroy();
      });

      idiom.test(`${idiom.what}: --websocket-idle-timeout closes a client that answers no ping; one that answers stays open`, async () => {
        const server = start(idiom.app, ["--websocket-idle-timeout", "2"]);
        const url = await server.ready();
        const live = await WebSocketClient.open(portOf(url), "/ws");
        const dead = await WebSocketClient.open(portOf(url), "/ws");
        dead.answerPings = false;
        expect((await live.next()).text).toBe(idiom.welcome);
        expect((await dead.next()).text).toBe(idiom.welcome);
        const frame = await dead.ended(15_000);
        expect(dead.pings).toBeGreaterThanOrEqual(1);
        // Deno.serve and node:http say 1001 first; Bun.serve closes the connection without a frame.
        if (frame !== undefined) expect(frame.code).toBe(1001);
        else expect(runtime === "bun" && engine !== "node" && idiom.app !== "ws-express.ts").toBe(true);
        // The live client answered its pings through the same time, and still talks.
        await live.pinged(2, 15_000);
        expect(live.closed).toBe(false);
        live.send("still here");
        expect((await live.next()).text).toBe("echo still here");
        live.destroy();
      });

      // Counted by the same code for the runtime's idiom and the portable one on Bun.serve and Deno.serve.
      if (idiom.counted) idiom.test(`${idiom.what}: open WebSockets are counted (unicorn ctl stats, the workers table)`, async () => {
        const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "unicorn-ws-")), "app.ctl");
        const server = start(idiom.app, ["--control-socket", socket]);
        const url = await server.ready();
        const at = ["--socket", socket];
        const count = (n: number) => until(`${n} WebSockets in stats`, async () => {
          const stats = JSON.parse((await ctl(runtime, [...at, "stats", "--json"])).stdout) as { websockets: number };
          return stats.websockets === n ? stats : undefined;
        });
        const a = await WebSocketClient.open(portOf(url), "/ws");
        const b = await WebSocketClient.open(portOf(url), "/ws");
        expect((await a.next()).text).toBe(idiom.welcome);
        expect((await b.next()).text).toBe(idiom.welcome);
        await count(2);
        const rows = JSON.parse((await ctl(runtime, [...at, "workers", "--json"])).stdout).workers as Array<{ websockets: number }>;
        expect(rows.map((row) => row.websockets)).toEqual([2]);
        a.close();
        a.destroy();
        await count(1);
        b.destroy();
        await count(0);
      });
    }

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

    /** Starts the SSE app, opens a stream, sends `signal` once it flows: the stream must end with the app's last event. */
    const streamEndedBy = async (signal: NodeJS.Signals) => {
      const server = start("sse-app.ts", ["--graceful-timeout", "30"]);
      const url = await server.ready();
      let first: () => void;
      const started = new Promise<void>((resolve) => (first = resolve));
      const stream = listen(url, () => first());
      await started;
      server.signal(signal);
      const { events, ended } = await stream;
      expect(ended).toBe(true);
      expect(events.at(-1)).toBe("event: bye\ndata: the server is stopping");
      return { server, url };
    };

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

    test("HUP: the old worker ends its stream with a last event (shutdownSignal), and the client's reconnect is served by the new generation", async () => {
      const { server, url } = await streamEndedBy("SIGHUP");
      await server.waitFor(/Reload complete/);
      // The client reconnects as EventSource does, until it gets a stream: its kept-alive connection may
      // still reach the old worker, which says bye at once; a new connection reaches the new generation.
      const firstEvent = () => new Promise<string>((resolve, reject) => {
        const request = http.get(`${url}/events`, (res) => {
          res.setEncoding("utf8");
          res.once("data", (chunk: string) => {
            resolve(chunk);
            request.destroy();
          });
        });
        request.on("error", reject);
      });
      let event = "";
      for (let attempt = 0; attempt < 5 && !event.startsWith("data: "); attempt++) event = await firstEvent().catch(() => "");
      expect(event).toMatch(/^data: \d+/);
    });

    test("TERM: the app ends its stream with a last event (shutdownSignal), the client sees a clean end, the worker exits at once", async () => {
      const { server } = await streamEndedBy("SIGTERM");
      expect((await server.exited()).code).toBe(0);
      expect(server.lines.some((line) => /Connections still open/.test(line))).toBe(false);
    });
  });
}
