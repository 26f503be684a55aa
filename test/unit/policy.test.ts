import { describe, expect, test } from "vitest";
import { IpSet, parseIp } from "../../src/http/ip.ts";
import { type HttpSettings, parseForwarded, RequestPolicy } from "../../src/http/policy.ts";
import { parseProxyHeader } from "../../src/http/proxy-protocol.ts";
import { connInfoOf } from "../../src/http/client.ts";
import { defaultHttpSettings } from "../../src/arbiter/http-config.ts";
import type { ConnInfo, EngineInfo, WireHead } from "../../src/runtime.ts";

// The settings table's defaults, with a shorter scheme-header list to test against.
const SETTINGS: HttpSettings = defaultHttpSettings({
  secureSchemeHeaders: { "x-forwarded-proto": "https", "x-forwarded-ssl": "on" },
  proxyAllowFrom: ["127.0.0.1"],
});

function wire(head: Partial<WireHead> & { headers?: string[] } = {}, settings: Partial<HttpSettings> = {}) {
  const policy = new RequestPolicy({ ...SETTINGS, ...settings });
  return policy.checkWire({
    method: head.method ?? "GET",
    target: head.target ?? "/",
    version: head.version ?? "1.1",
    rawHeaders: head.headers ?? ["Host", "example.com"],
    ...(head.http2 ? { http2: true as const } : {}),
  }).rejection;
}

const LOCAL: EngineInfo = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 5000 }, connection: "c1" };
const echo = (request: Request, info: ConnInfo) =>
  Response.json({ url: request.url, remote: info.remoteAddr.hostname, proxy: info.proxy?.hostname ?? null });

describe("the request policy on a wire head", () => {
  test("a plain request passes", () => {
    expect(wire()).toBeUndefined();
  });

  test.each([
    ["HTTP/2.0", { version: "2.0" }, 505],
    ["HTTP/0.9", { version: "0.9" }, 400],
    ["GET *", { target: "*" }, 400],
    ["a relative target", { target: "foo/bar" }, 400],
    ["CONNECT", { method: "CONNECT", target: "example.com:443" }, 501],
    ["a missing Host in HTTP/1.1", { headers: [] }, 400],
    ["two Hosts", { headers: ["Host", "a", "host", "b"] }, 400],
    ["a Host with a slash", { headers: ["Host", "a/b"] }, 400],
    ["a Host with a comma (merged duplicates)", { headers: ["Host", "a, b"] }, 400],
    ["Content-Length and Transfer-Encoding", { headers: ["Host", "a", "Content-Length", "3", "Transfer-Encoding", "chunked"] }, 400],
    ["chunked not last", { headers: ["Host", "a", "Transfer-Encoding", "chunked, gzip"] }, 400],
    ["an unknown coding", { headers: ["Host", "a", "Transfer-Encoding", "xchunked"] }, 501],
    ["user information in an absolute-form target", { target: "http://user:pass@example.com/x" }, 400],
    ["a coding unicorn does not decode before chunked", { headers: ["Host", "a", "Transfer-Encoding", "gzip, chunked"] }, 501],
    ["the same, in two fields", { headers: ["Host", "a", "Transfer-Encoding", "gzip", "Transfer-Encoding", "chunked"] }, 501],
    ["chunked in HTTP/1.0", { version: "1.0", headers: ["Transfer-Encoding", "chunked"] }, 400],
    ["Content-Length +1", { headers: ["Host", "a", "Content-Length", "+1"] }, 400],
    ["Content-Length 5, 5", { headers: ["Host", "a", "Content-Length", "5, 5"] }, 400],
    ["two Content-Lengths", { headers: ["Host", "a", "Content-Length", "5", "Content-Length", "5"] }, 400],
  ] as const)("%s is refused %i", (_, head, status) => {
    expect(wire(head as Partial<WireHead>)?.status).toBe(status);
  });

  test("HTTP/1.0 without Host, OPTIONS * and an absolute-form target pass", () => {
    expect(wire({ version: "1.0", headers: [] })).toBeUndefined();
    expect(wire({ method: "OPTIONS", target: "*" })).toBeUndefined();
    expect(wire({ target: "http://example.com/x" })).toBeUndefined();
    expect(wire({ headers: ["Host", "[::1]:8080"] })).toBeUndefined();
    expect(wire({ headers: ["Host", "a", "Transfer-Encoding", "chunked"] })).toBeUndefined();
  });

  test("HTTP/2.0 passes only from an engine that received an HTTP/2 stream, with or without an authority", () => {
    expect(wire({ version: "2.0", http2: true })).toBeUndefined();
    expect(wire({ version: "2.0", http2: true, headers: [] })).toBeUndefined();
    expect(wire({ version: "2.0" })?.status).toBe(505);
    // Host and a different :authority, as node-http2.ts gives them: two Hosts.
    expect(wire({ version: "2.0", http2: true, headers: ["host", "a", "host", "b"] })?.status).toBe(400);
    expect(wire({ version: "2.0", http2: true, headers: ["host", "a", "x-long", "y".repeat(9000)] })?.status).toBe(431);
  });

  test("the limits answer 414, 431 and 413 at their edges, and 0 turns each off", () => {
    const target = `/${"a".repeat(4094 - 14)}`; // "GET " + target + " HTTP/1.1" = 4094
    expect(wire({ target })).toBeUndefined();
    expect(wire({ target: `${target}a` })?.status).toBe(414);
    expect(wire({ target: `${target}a` }, { limitRequestLine: 0 })).toBeUndefined();
    const fields = (n: number) => ["Host", "a", ...Array.from({ length: n - 1 }, (_, i) => [`x-${i}`, "1"]).flat()];
    expect(wire({ headers: fields(100) })).toBeUndefined();
    expect(wire({ headers: fields(101) })?.status).toBe(431);
    const big = (n: number) => ["Host", "a", "X-Big", "b".repeat(n - 7)]; // "X-Big: " + value
    expect(wire({ headers: big(8190) })).toBeUndefined();
    expect(wire({ headers: big(8191) })?.status).toBe(431);
    const body = ["Host", "a", "Content-Length", "11"];
    expect(wire({ method: "POST", headers: body }, { limitRequestBody: 10 })?.status).toBe(413);
    expect(wire({ method: "POST", headers: body }, { limitRequestBody: 11 })).toBeUndefined();
  });
});

describe("the request policy on a native engine's Request", () => {
  const wrapped = (settings: Partial<HttpSettings> = {}) => new RequestPolicy({ ...SETTINGS, ...settings }).wrap(echo, () => {});

  test("a request without Host passes only where the engine knows it is HTTP/1.0", async () => {
    const handler = wrapped();
    const hostless = () => new Request("http://127.0.0.1:8000/old");
    expect((await handler(hostless(), { ...LOCAL, connection: "h1" })).status).toBe(400);
    expect((await handler(hostless(), { ...LOCAL, connection: "h2", httpVersion: "1.0" })).status).toBe(200);
    // Known to be HTTP/1.1 (or not known), Host is required.
    expect((await handler(hostless(), { ...LOCAL, connection: "h3", httpVersion: "1.1" })).status).toBe(400);
  });

  test("user information in the URL is a 400 (RFC 9110 4.2.4), an @ in the path is not", async () => {
    const handler = wrapped();
    // As Deno.serve builds it (a Request built here refuses credentials in its URL).
    const withCredentials = { method: "GET", url: "http://user:pass@a/x", headers: new Headers({ host: "a" }), body: null } as Request;
    const credentials = await handler(withCredentials, { ...LOCAL, connection: "u1" });
    expect(credentials.status).toBe(400);
    const path = await handler(new Request("http://a/users/@me", { headers: { host: "a" } }), { ...LOCAL, connection: "u2" });
    expect(path.status).toBe(200);
  });

  test("refuses what the Request shows, and then anything else on that connection", async () => {
    const handler = wrapped();
    const bad = await handler(new Request("http://a/x", { headers: { "x-v": "ok", "content-length": "abc" } }), LOCAL);
    expect(bad.status).toBe(400);
    expect(bad.headers.get("connection")).toBe("close");
    const next = await handler(new Request("http://a/y", { headers: { host: "a" } }), LOCAL);
    expect(next.status).toBe(400);
    const other = await handler(new Request("http://a/y", { headers: { host: "a" } }), { ...LOCAL, connection: "c2" });
    expect(other.status).toBe(200);
  });

  test("with Bun's headers.count, the fields the count leaves no room for are not asked for; the others still are", async () => {
    // Bun's Headers, as its count shows them: each field once (merged duplicates), and the names asked for.
    const bunRequest = (fields: Record<string, string>) => {
      const asked: string[] = [];
      const map = new Map(Object.entries(fields));
      const headers = { count: map.size, get: (name: string) => (asked.push(name), map.get(name) ?? null) };
      return { asked, request: { method: "GET", url: "http://a/x", headers, body: null } as unknown as Request };
    };
    const handler = wrapped();
    const only = bunRequest({ host: "a" });
    expect((await handler(only.request, { ...LOCAL, connection: "n1" })).status).toBe(200);
    expect(only.asked).toEqual(["host"]);
    // One field besides Host: read on until it is found, and no further.
    const proxied = bunRequest({ host: "a", "x-forwarded-for": "203.0.113.7" });
    const reply = await handler(proxied.request, { ...LOCAL, connection: "n2" });
    expect((await reply.json()).remote).toBe("203.0.113.7");
    expect(proxied.asked).toEqual(["host", "content-length", "transfer-encoding", "x-forwarded-for"]);
    // A field unicorn does not read: every one is asked for, and the last one read still counts.
    const other = bunRequest({ host: "a", "user-agent": "curl", forwarded: "for=203.0.113.8" });
    expect((await (await handler(other.request, { ...LOCAL, connection: "n3" })).json()).remote).toBe("203.0.113.8");
    expect(other.asked).toEqual(["host", "content-length", "transfer-encoding", "x-forwarded-for", "forwarded", "x-forwarded-proto", "x-forwarded-ssl"]);
    const framed = bunRequest({ host: "a", "content-length": "1", "transfer-encoding": "chunked" });
    expect((await handler(framed.request, { ...LOCAL, connection: "n4" })).status).toBe(400);
  });

  test("requires Host, since the version is hidden", async () => {
    const reply = await wrapped()(new Request("http://a/x"), { ...LOCAL, connection: "c3" });
    expect(reply.status).toBe(400);
  });

  test("a chunked body past --limit-request-body is answered 413", async () => {
    const app = async (request: Request) => new Response(String((await request.arrayBuffer()).byteLength));
    const handler = new RequestPolicy({ ...SETTINGS, limitRequestBody: 10 }).wrap(async (request: Request, info: ConnInfo) => {
      try {
        return await app(request);
      } catch {
        return new Response("app saw an error", { status: 500 });
      }
    }, () => {});
    const body = (text: string) =>
      new Request("http://a/up", {
        method: "POST",
        headers: { host: "a", "transfer-encoding": "chunked" },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(text));
            controller.close();
          },
        }),
        duplex: "half",
      } as RequestInit);
    expect((await handler(body("0123456789"), { ...LOCAL, connection: "c4" })).status).toBe(200);
    expect((await handler(body("0123456789x"), { ...LOCAL, connection: "c5" })).status).toBe(413);
  });
});

describe("trusted proxies", () => {
  const handler = new RequestPolicy(SETTINGS).wrap(echo, () => {});
  const from = (hostname: string): EngineInfo => ({ remoteAddr: { transport: "tcp", hostname, port: 1 }, connection: hostname });
  const ask = async (headers: Record<string, string>, peer = "127.0.0.1") => {
    const reply = await handler(new Request("http://a/p?q", { headers: { host: "a", ...headers } }), from(peer));
    return { status: reply.status, ...(reply.status === 200 ? await reply.json() : {}) };
  };

  test("the scheme and the nearest untrusted address of X-Forwarded-For", async () => {
    const r = await ask({ "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.1, 198.51.100.2, 127.0.0.1" });
    expect(r.url).toBe("https://a/p?q");
    expect(r.remote).toBe("198.51.100.2");
    expect(r.proxy).toBe("127.0.0.1");
  });

  test("::ffff:127.0.0.1 is 127.0.0.1; an untrusted peer's headers change nothing", async () => {
    expect((await ask({ "x-forwarded-for": "203.0.113.1" }, "::ffff:127.0.0.1")).remote).toBe("203.0.113.1");
    const r = await ask({ "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.1" }, "10.1.2.3");
    expect(r.url).toBe("http://a/p?q");
    expect(r.remote).toBe("10.1.2.3");
  });

  test("the rewritten info keeps what the engine put on it (Node's incoming, Bun's server)", async () => {
    const engineInfo = { ...from("127.0.0.1"), incoming: { marker: 1 } };
    const seen: ConnInfo[] = [];
    const handler = new RequestPolicy(SETTINGS).wrap((_request: Request, info: ConnInfo) => (seen.push(info), new Response("ok")), () => {});
    await handler(new Request("http://a/", { headers: { host: "a", "x-forwarded-for": "203.0.113.9" } }), engineInfo);
    expect(seen[0]!.remoteAddr.hostname).toBe("203.0.113.9");
    expect((seen[0] as unknown as { incoming: { marker: number } }).incoming.marker).toBe(1);
  });

  test("the request the app gets carries the decided info (request.ip, the helpers' views), a bounded body's too", async () => {
    const exposed: Array<[string, boolean | undefined]> = [];
    const engineInfo: EngineInfo = { ...from("127.0.0.1"), expose: (client, secure) => void exposed.push([client.hostname, secure]) };
    const seen: Array<string | undefined> = [];
    const policy = new RequestPolicy({ ...SETTINGS, limitRequestBody: 100 });
    const handler = policy.wrap((request: Request) => (seen.push(connInfoOf(request)?.remoteAddr.hostname), new Response("ok")), () => {});
    const headers = { host: "a", "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https" };
    await handler(new Request("http://a/", { headers }), engineInfo);
    await handler(new Request("http://a/", { method: "POST", headers: { ...headers, "transfer-encoding": "chunked" }, body: "x" }), engineInfo);
    await handler(new Request("http://a/", { headers: { host: "a" } }), engineInfo);
    expect(seen).toEqual(["203.0.113.9", "203.0.113.9", "127.0.0.1"]);
    // The engine was told, so node:http's socket can show the same client to Express's req.ip.
    expect(exposed).toEqual([["203.0.113.9", true], ["203.0.113.9", true]]);
  });

  test("contradicting scheme headers are 400", async () => {
    expect((await ask({ "x-forwarded-proto": "https", "x-forwarded-ssl": "off" })).status).toBe(400);
    expect((await ask({ "x-forwarded-proto": "http", forwarded: "proto=https" })).status).toBe(400);
  });

  test("Forwarded: quoted IPv6 with a port, obfuscated names, and malformed values", () => {
    expect(parseForwarded('for="[2001:db8::1]:4711";proto=https, for=192.0.2.60:80')).toEqual({
      clients: ["2001:db8::1", "192.0.2.60"],
      protos: ["https"],
    });
    expect(parseForwarded("for=_hidden")?.clients).toEqual(["_hidden"]);
    expect(parseForwarded("for")).toBeUndefined();
    expect(parseForwarded('for="unterminated')).toBeUndefined();
  });
});

describe("IP addresses and ranges", () => {
  test("parses IPv4, IPv6 and mapped forms, and refuses the rest", () => {
    expect(parseIp("10.0.0.1")).toEqual(new Uint8Array([10, 0, 0, 1]));
    expect(parseIp("::1")?.length).toBe(16);
    expect(parseIp("[2001:db8::1]")?.length).toBe(16);
    for (const bad of ["10.0.0.300", "10.0.0", "01.2.3.4", "1::2::3", "g::1", "localhost", ""]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  test("matches CIDR ranges of either family, and * matches all", () => {
    const set = new IpSet(["10.0.0.0/8", "2001:db8::/32", "192.168.1.7"]);
    expect(set.has("10.200.3.4")).toBe(true);
    expect(set.has("11.0.0.1")).toBe(false);
    expect(set.has("2001:db8:ffff::1")).toBe(true);
    expect(set.has("2001:db9::1")).toBe(false);
    expect(set.has("192.168.1.7")).toBe(true);
    expect(set.has("::ffff:10.1.1.1")).toBe(true);
    expect(new IpSet(["172.16.0.0/12"]).has("172.31.255.255")).toBe(true);
    expect(new IpSet(["172.16.0.0/12"]).has("172.32.0.0")).toBe(false);
    expect(new IpSet(["*"]).has("anything")).toBe(true);
    expect(() => new IpSet(["10.0.0.0/33"])).toThrow(/prefix/);
    expect(() => new IpSet(["nope"])).toThrow(/"nope"/);
  });
});

describe("PROXY protocol", () => {
  const bytes = (text: string) => new Uint8Array([...text].map((c) => c.charCodeAt(0)));

  test("v1: TCP4, TCP6 and UNKNOWN; partial input asks for more", () => {
    expect(parseProxyHeader(bytes("PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\nGET"), "v1")).toEqual({
      kind: "ok",
      length: 40,
      source: { hostname: "192.0.2.1", port: 5555 },
    });
    expect(parseProxyHeader(bytes("PROXY TCP6 2001:db8::1 ::1 1 2\r\n"), "auto")).toMatchObject({ source: { hostname: "2001:db8::1" } });
    expect(parseProxyHeader(bytes("PROXY UNKNOWN\r\n"), "v1")).toEqual({ kind: "ok", length: 15 });
    expect(parseProxyHeader(bytes("PROX"), "v1")).toEqual({ kind: "more" });
    expect(parseProxyHeader(bytes("PROXY TCP4 192.0.2.1 192.0.2.2 5555"), "v1")).toEqual({ kind: "more" });
  });

  test.each([
    ["pp_01 truncated", "PROXY TCP4 192.0.2.1 192.0.2.2\r\n"],
    ["pp_02 bad ports", "PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n"],
    ["pp_03 bad IP", "PROXY TCP4 192.168.0.1000 192.168.0.11 1 2\r\n"],
    ["a port over 65535", "PROXY TCP4 192.0.2.1 192.0.2.2 65536 80\r\n"],
    ["IPv6 under TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n"],
    ["a bare LF", "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n"],
    ["an over-long line", `PROXY TCP4 ${"1".repeat(120)}`],
  ])("v1: %s is an error", (_, text) => {
    expect(parseProxyHeader(bytes(text), "v1").kind).toBe("error");
  });

  test("v2: TCP4 and LOCAL; a plain request in auto mode is none, in v2 mode an error", () => {
    const header = new Uint8Array(28);
    header.set([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12]);
    header.set([203, 0, 113, 5, 127, 0, 0, 1, 0x9c, 0x40, 0, 80], 16);
    expect(parseProxyHeader(header, "v2")).toEqual({ kind: "ok", length: 28, source: { hostname: "203.0.113.5", port: 40000 } });
    expect(parseProxyHeader(header.subarray(0, 20), "v2")).toEqual({ kind: "more" });
    const local = header.slice(0, 16);
    local[12] = 0x20;
    local[15] = 0;
    expect(parseProxyHeader(local, "auto")).toEqual({ kind: "ok", length: 16 });
    expect(parseProxyHeader(bytes("GET / HTTP/1.1\r\n"), "auto")).toEqual({ kind: "none" });
    expect(parseProxyHeader(bytes("GET / HTTP/1.1\r\n"), "v2").kind).toBe("error");
    const badVersion = header.slice();
    badVersion[12] = 0x31;
    expect(parseProxyHeader(badVersion, "v2").kind).toBe("error");
  });
});

describe("trusting nobody", () => {
  test("--forwarded-allow-ips '' leaves every proxy header alone, even from 127.0.0.1", async () => {
    const handler = new RequestPolicy({ ...SETTINGS, forwardedAllowIps: [""] }).wrap(echo, () => {});
    const reply = await handler(
      new Request("http://a/p", { headers: { host: "a", "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.1" } }),
      LOCAL,
    );
    const body = await reply.json();
    expect(body.url).toBe("http://a/p");
    expect(body.remote).toBe("127.0.0.1");
  });
});
