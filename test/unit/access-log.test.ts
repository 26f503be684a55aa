import { expect, test } from "vitest";
import { accessRequest, AccessLog, compileAccessFormat, escapeValue, formatAccessDate } from "../../src/http/access-log.ts";

const info = { remoteAddr: { transport: "tcp" as const, hostname: "10.0.0.1", port: 5 } };
const GUNICORN_DEFAULT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

function entry(headers: Record<string, string> = {}, extra: { peer?: string; bytes?: number } = {}) {
  const response = new Response("hello", { status: 201, headers: { "content-length": "5", "x-out": "o" } });
  return {
    request: accessRequest(new Request("http://example.com/a/b?x=1", { headers })),
    status: response.status,
    responseHeader: (name: string) => response.headers.get(name),
    remote: info.remoteAddr.hostname,
    peer: extra.peer ?? info.remoteAddr.hostname,
    ...(extra.bytes !== undefined ? { bytes: extra.bytes } : {}),
    started: new Date(2026, 10, 26, 10, 0, 5),
    durationMs: 1234.5678,
    pid: 42,
    protocol: "HTTP/1.1",
  };
}

test("Gunicorn's default format renders every atom", () => {
  const line = compileAccessFormat(GUNICORN_DEFAULT, {})(
    entry({ authorization: `Basic ${btoa("ada:secret")}`, referer: "http://r/", "user-agent": "curl/8" }),
  );
  expect(line).toMatch(
    /^10\.0\.0\.1 - ada \[26\/Nov\/2026:10:00:05 [+-]\d{4}\] "GET \/a\/b\?x=1 HTTP\/1\.1" 201 5 "http:\/\/r\/" "curl\/8"$/,
  );
});

test("timing, header, response-header, environment and pid atoms", () => {
  const render = compileAccessFormat("%(T)s %(M)s %(D)s %(L)s %({x-in}i)s %({x-out}o)s %({HOME}e)s %(p)s %(U)s %(q)s", {
    HOME: "/home/ada",
  });
  expect(render(entry({ "x-in": "i" }))).toBe("1 1235 1234568 1.234568 i o /home/ada <42> /a/b x=1");
});

test("a value cannot forge a field or a line", () => {
  const render = compileAccessFormat('"%(a)s"', {});
  expect(render(entry({ "user-agent": 'evil" 200 "x' }))).toBe('"evil\\" 200 \\"x"');
  expect(escapeValue("a\tb\\c\x7f")).toBe("a\\x09b\\\\c\\x7f");
});

test("json renders one parseable object per line", () => {
  const line = compileAccessFormat("json", {})(entry({ "user-agent": 'x" y' }));
  expect(JSON.parse(line)).toMatchObject({ method: "GET", path: "/a/b", query: "x=1", status: 201, bytes: 5, userAgent: 'x" y' });
});

test("h is the client decided, %(peer)s the connection's peer; b counts the bytes sent where the engine counted them", () => {
  const render = compileAccessFormat("%(h)s %(peer)s %(b)s %(B)s", {});
  expect(render(entry({}, { peer: "127.0.0.1" }))).toBe("10.0.0.1 127.0.0.1 5 5");
  expect(render(entry({}, { peer: "127.0.0.1", bytes: 3 }))).toBe("10.0.0.1 127.0.0.1 3 3");
  const json = JSON.parse(compileAccessFormat("json", {})(entry({}, { peer: "127.0.0.1", bytes: 0 })));
  expect(json).toMatchObject({ remote: "10.0.0.1", peer: "127.0.0.1", bytes: 0 });
});

test("an unknown atom is refused when the format is compiled", () => {
  expect(() => compileAccessFormat("%(zz)s", {})).toThrow(/unknown atom "%\(zz\)s"/);
});

test("a failing write never fails the request", async () => {
  let failures = 0;
  const handler = new AccessLog(() => "line", () => {
    throw new Error("EPIPE");
  }, 1, (n) => (failures = n)).wrap(() => new Response("ok"));
  const response = await handler(new Request("http://x/"), info);
  expect(response.status).toBe(200);
  expect(failures).toBe(1);
  expect(formatAccessDate(new Date(2026, 0, 2, 3, 4, 5))).toMatch(/^\[02\/Jan\/2026:03:04:05 [+-]\d{4}\]$/);
});
