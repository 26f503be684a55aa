/**
 * The malformed-request corpus: raw HTTP/1.1 bytes sent over a socket to every
 * runtime. Built from RFC 9112 and the categories of Gunicorn's
 * tests/requests/invalid (design/gunicorn-reference.md §6).
 *
 * The corpus app answers every request it sees with `app:<path>:<body bytes>`.
 * An invalid case passes when the server answers one of `status` (or closes
 * without an answer when `status` holds 0), closes the connection, and no
 * "app:" ever comes back: neither the bad request nor anything smuggled behind
 * it reached the app. A valid case passes when each expected marker comes back.
 */

export interface InvalidCase {
  readonly id: string;
  readonly category: string;
  readonly raw: string;
  /** Acceptable status codes; 0 = closing without an answer is acceptable. */
  readonly status: readonly number[];
  /** Extra arguments for the server (limits), when the case needs them. */
  readonly args?: readonly string[];
  /**
   * "body": the fault is in the body, after the app may have started on the request;
   * then the app's answer to it may come back, but nothing behind the fault may reach the app.
   */
  readonly phase?: "body";
}

export interface ValidCase {
  readonly id: string;
  readonly raw: string;
  /** The markers the app must answer, in order. */
  readonly seen: readonly string[];
  /**
   * The statuses of every answer on the connection, in order, when the case holds more than valid
   * requests (a valid request, then bytes that are not one); the connection must then be closed.
   */
  readonly statuses?: readonly number[];
  /** What the app saw of the first request (the fields given are checked, by lower-case name). */
  readonly sees?: Seen;
}

/** A request as the corpus app reports it. */
export interface Seen {
  readonly method?: string;
  readonly target?: string;
  /** `scheme://host:port` of the request's URL. */
  readonly origin?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

const H = "Host: example.com\r\n";
const BAD = [400];
const chunkedPost = (path: string, body: string, extra = "") =>
  `POST ${path} HTTP/1.1\r\n${H}${extra}Transfer-Encoding: chunked\r\n\r\n${body}`;
const smuggled = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;

const headerLines = (n: number) => Array.from({ length: n }, (_, i) => `header${i}: ${i}\r\n`).join("");

export const INVALID: readonly InvalidCase[] = [
  // Request line, method, version, target.
  { id: "002 no target", category: "request line", raw: "GET HTTP/1.1\r\n\r\n", status: BAD },
  { id: "003 LF instead of SP", category: "request line", raw: "GET\n/\nHTTP/1.1\r\n\r\n", status: BAD },
  { id: "003b colon in method", category: "request line", raw: "bla:rgh /foo HTTP/1.1\r\n\r\n", status: BAD },
  { id: "prefix_02 NUL in method", category: "request line", raw: "GET\x00 /foo HTTP/1.1\r\n\r\n", status: BAD },
  { id: "double space", category: "request line", raw: `GET  /foo HTTP/1.1\r\n${H}\r\n`, status: BAD },
  { id: "trailing space", category: "request line", raw: `GET /foo HTTP/1.1 \r\n${H}\r\n`, status: BAD },
  { id: "tab separator", category: "request line", raw: `GET\t/foo HTTP/1.1\r\n${H}\r\n`, status: BAD },
  { id: "bare CR in request line", category: "request line", raw: `GET /foo\rHTTP/1.1\r\n${H}\r\n`, status: BAD },
  { id: "bare LF line ends", category: "request line", raw: `GET /foo HTTP/1.1\n${H.trim()}\n\n`, status: BAD },
  { id: "nonascii in target", category: "request line", raw: `GET /f\xffo HTTP/1.1\r\n${H}\r\n`, status: BAD },
  { id: "HTTP/0.9", category: "version", raw: "GET /\r\n\r\n", status: [400, 0] },
  { id: "version_02 HTTP/2.0", category: "version", raw: `GET /foo HTTP/2.0\r\n${H}\r\n`, status: [400, 505] },
  { id: "018 HTTP/111", category: "version", raw: `GET /test HTTP/111\r\n${H}\r\n`, status: [400, 505] },
  { id: "HTTP/1.2", category: "version", raw: `GET /test HTTP/1.2\r\n${H}\r\n`, status: [400, 505] },
  { id: "lowercase http", category: "version", raw: `GET /test http/1.1\r\n${H}\r\n`, status: BAD },
  { id: "HTTP/3.0", category: "version", raw: `GET /test HTTP/3.0\r\n${H}\r\n`, status: [400, 505] },
  { id: "asterisk with GET", category: "target", raw: `GET * HTTP/1.1\r\n${H}\r\n`, status: BAD },
  { id: "authority form with GET", category: "target", raw: `GET example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`, status: BAD },
  { id: "relative target", category: "target", raw: `GET foo/bar HTTP/1.1\r\n${H}\r\n`, status: BAD },
  { id: "CONNECT", category: "target", raw: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: [400, 405, 501] },
  // Host.
  { id: "HTTP/1.1 without Host", category: "host", raw: "GET /foo HTTP/1.1\r\n\r\n", status: BAD },
  { id: "042 duplicate Host", category: "host", raw: `GET /foo HTTP/1.1\r\nHost: localhost\r\nHost: evil.example.com\r\n\r\n`, status: BAD },
  { id: "Host with a path", category: "host", raw: "GET /foo HTTP/1.1\r\nHost: example.com/evil\r\n\r\n", status: BAD },
  { id: "Host with a space", category: "host", raw: "GET /foo HTTP/1.1\r\nHost: exa mple.com\r\n\r\n", status: BAD },
  { id: "user information in an absolute-form target", category: "target", raw: `GET http://user:pass@example.com:8080/foo HTTP/1.1\r\nHost: example.com:8080\r\n\r\n`, status: BAD },
  { id: "Host with userinfo", category: "host", raw: "GET /foo HTTP/1.1\r\nHost: user@example.com\r\n\r\n", status: BAD },
  { id: "empty Host list", category: "host", raw: "GET /foo HTTP/1.1\r\nHost: a.com, b.com\r\n\r\n", status: BAD },
  // Header names and values.
  { id: "005 NUL in name", category: "header bytes", raw: `GET /foo HTTP/1.1\r\n${H}ba\x00z: bar\r\n\r\n`, status: BAD },
  { id: "020 space before colon", category: "header bytes", raw: `GET /foo HTTP/1.1\r\n${H}Content-Length : 3\r\n\r\nxyz`, status: BAD },
  { id: "nonascii_03 in name", category: "header bytes", raw: `GET /foo HTTP/1.1\r\n${H}Content-Length\xc3\x9f: 3\r\nContent-Length: 3\r\n\r\nabc`, status: BAD },
  { id: "bare LF inside a value", category: "header bytes", raw: `GET / HTTP/1.1\r\nHost: x\r\nNewline: a\nContent-Length: 26\r\nGET /smuggled HTTP/1.1\nHost: x\r\n\r\n`, status: BAD },
  { id: "bare CR inside a value", category: "header bytes", raw: `GET / HTTP/1.1\r\n${H}X-A: a\rX-B: b\r\n\r\n`, status: BAD },
  { id: "BEL in value", category: "header bytes", raw: `GET /foo HTTP/1.1\r\n${H}X-Value: plain\x07injected\r\n\r\n`, status: BAD },
  { id: "DEL in value", category: "header bytes", raw: `GET /foo HTTP/1.1\r\n${H}X-Value: plain\x7finjected\r\n\r\n`, status: BAD },
  { id: "NUL in value", category: "header bytes", raw: `GET /foo HTTP/1.1\r\n${H}X-Value: a\x00b\r\n\r\n`, status: BAD },
  { id: "obs-fold", category: "header bytes", raw: `GET / HTTP/1.1\r\nLong: one\r\n two\r\n${H}\r\n`, status: BAD },
  { id: "line with no colon", category: "header bytes", raw: `GET / HTTP/1.1\r\n${H}NoColonHere\r\n\r\n`, status: BAD },
  { id: "empty header name", category: "header bytes", raw: `GET / HTTP/1.1\r\n${H}: value\r\n\r\n`, status: BAD },
  { id: "whitespace before first header", category: "header bytes", raw: `GET / HTTP/1.1\r\n ${H}\r\n`, status: BAD },
  // Content-Length.
  { id: "014 CL -1", category: "content-length", raw: `POST /foo HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, status: BAD },
  { id: "015 CL text", category: "content-length", raw: `POST /foo HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`, status: BAD },
  { id: "021 duplicate CL", category: "content-length", raw: `POST /foo HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 2\r\n\r\nxyz`, status: BAD },
  { id: "022 CL -0", category: "content-length", raw: `POST /foo HTTP/1.1\r\n${H}Content-Length: -0\r\n\r\n`, status: BAD },
  { id: "023 CL 0_1", category: "content-length", raw: `POST /foo HTTP/1.1\r\n${H}Content-Length: 0_1\r\n\r\nx`, status: BAD },
  { id: "024 CL +1", category: "content-length", raw: `POST /foo HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\nx`, status: BAD },
  { id: "prefix_04 CL 3 1", category: "content-length", raw: `POST /foo HTTP/1.1\r\n${H}Content-Length: 3 1\r\n\r\nxyz`, status: BAD },
  { id: "CL list form 5, 5", category: "content-length", raw: `POST /p HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, status: BAD },
  { id: "CL hex", category: "content-length", raw: `POST /p HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, status: BAD },
  { id: "CL too large", category: "content-length", raw: `POST /p HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\nhello`, status: [400, 413] },
  // Transfer-Encoding and smuggling.
  { id: "CL.TE", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, status: BAD },
  { id: "TE.CL", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n${smuggled}\r\n0\r\n\r\n`, status: BAD },
  { id: "chunked_02 TAB-padded TE with CL", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Content-Length: 12\r\nTransfer-Encoding: \tchunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n\r\n`, status: BAD },
  { id: "chunked_03 stacked chunked", category: "smuggling", raw: chunkedPost("/p", "5\r\nhello\r\n0\r\n\r\n").replace("Transfer-Encoding: chunked", "Transfer-Encoding: identity, chunked, identity, chunked"), status: [400, 501] },
  { id: "chunked_04 chunked twice across headers", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: BAD },
  { id: "chunked_05 chunked in HTTP/1.0", category: "smuggling", raw: `POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: BAD },
  { id: "gzip, chunked: a coding unicorn does not decode", category: "transfer codings", raw: `POST /p HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, status: [501] },
  { id: "chunked_06 gzip after chunked", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: [400, 501] },
  { id: "chunked_08 identity after chunked", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: [400, 501] },
  { id: "unknown TE", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: [400, 501] },
  { id: "TE with a vertical tab", category: "smuggling", raw: `POST /p HTTP/1.1\r\n${H}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n`, status: [400, 501] },
  { id: "refused, then a pipelined request", category: "smuggling", raw: `GET /foo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n${smuggled}`, status: BAD },
  { id: "over a limit, then a pipelined request", category: "smuggling", raw: `GET / HTTP/1.1\r\n${H}${headerLines(101)}\r\n${smuggled}`, status: [431] },
  { id: "CONNECT, then a pipelined request", category: "smuggling", raw: `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n${smuggled}`, status: [400, 405, 501] },
  // Chunked body framing: the app may have started; nothing behind it may be parsed.
  { id: "chunked_01 6_0 size", category: "chunked framing", raw: chunkedPost("/p", `5\r\nhello\r\n6_0\r\n world\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunked_09 trailing space", category: "chunked framing", raw: chunkedPost("/p", `5\r\nhello\r\n0 \r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunked_10 leading space", category: "chunked framing", raw: chunkedPost("/p", `5\r\nhello\r\n 0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunked_11 bare LF after size", category: "chunked framing", raw: chunkedPost("/p", `5\n;\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunked_12 extension without size", category: "chunked framing", raw: chunkedPost("/p", `;\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunked_13 empty size line", category: "chunked framing", raw: chunkedPost("/p", `\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunk extension over 16 KiB", category: "chunked framing", raw: chunkedPost("/p", `5;ext=${"x".repeat(20_000)}\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 413, 431, 500, 0], phase: "body" },
  { id: "chunked_14 bare CR in extension", category: "chunked framing", raw: chunkedPost("/p", `5;ext=val\rue\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunk size -5", category: "chunked framing", raw: chunkedPost("/p", `-5\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunk size +5", category: "chunked framing", raw: chunkedPost("/p", `+5\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunk size 0x5", category: "chunked framing", raw: chunkedPost("/p", `0x5\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunk data longer than size", category: "chunked framing", raw: chunkedPost("/p", `3\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "chunk size overflow", category: "chunked framing", raw: chunkedPost("/p", `ffffffffffffffffff1\r\nhello\r\n0\r\n\r\n${smuggled}`), status: [400, 413, 500, 0], phase: "body" },
  { id: "trailer holds a request line", category: "trailers", raw: chunkedPost("/p", `5\r\nhello\r\n0\r\n${smuggled}`), status: [400, 500, 0], phase: "body" },
  { id: "forbidden trailer Host", category: "trailers", raw: chunkedPost("/p", `5\r\nhello\r\n0\r\nHost: evil.example.com\r\n\r\n`), status: [400, 500, 0], phase: "body" },
  { id: "forbidden trailer Content-Length", category: "trailers", raw: chunkedPost("/p", `5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n`), status: [400, 500, 0], phase: "body" },
  { id: "forbidden trailer Transfer-Encoding", category: "trailers", raw: chunkedPost("/p", `5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n`), status: [400, 500, 0], phase: "body" },
  // Limits (Gunicorn's defaults, and small ones set for the case).
  { id: "006 request line over 4094", category: "limits", raw: `GET /${"q".repeat(4100)} HTTP/1.1\r\n${H}\r\n`, status: [414] },
  { id: "009 101 header fields", category: "limits", raw: `GET / HTTP/1.1\r\n${H}${headerLines(100)}\r\n`, status: [431] },
  { id: "007 header field over 8190", category: "limits", raw: `GET / HTTP/1.1\r\n${H}X-Big: ${"b".repeat(8200)}\r\n\r\n`, status: [431] },
  { id: "many duplicate fields over the count", category: "limits", raw: `GET / HTTP/1.1\r\n${H}${"X-Dup: 1\r\n".repeat(120)}\r\n`, status: [431] },
  { id: "request line over --limit-request-line 64", category: "limits", raw: `GET /${"a".repeat(80)} HTTP/1.1\r\n${H}\r\n`, status: [414], args: ["--limit-request-line", "64"] },
  { id: "fields over --limit-request-fields 5", category: "limits", raw: `GET / HTTP/1.1\r\n${H}${headerLines(5)}\r\n`, status: [431], args: ["--limit-request-fields", "5"] },
  { id: "field over --limit-request-field-size 100", category: "limits", raw: `GET / HTTP/1.1\r\n${H}X-Big: ${"b".repeat(120)}\r\n\r\n`, status: [431], args: ["--limit-request-field-size", "100"] },
  { id: "Content-Length over --limit-request-body 10", category: "limits", raw: `POST /p HTTP/1.1\r\n${H}Content-Length: 11\r\n\r\nhello world`, status: [413], args: ["--limit-request-body", "10"] },
  { id: "chunked body over --limit-request-body 10", category: "limits", raw: chunkedPost("/p", "6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n"), status: [413], args: ["--limit-request-body", "10"] },
];

export const VALID: readonly ValidCase[] = [
  { id: "plain GET", raw: `GET /a?x=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/a:0"] },
  { id: "pipelined three", raw: `GET /1 HTTP/1.1\r\n${H}\r\nGET /2 HTTP/1.1\r\n${H}\r\nGET /3 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/1:0", "app:/2:0", "app:/3:0"] },
  { id: "HTTP/1.0 without Host", raw: "GET /old?q=1 HTTP/1.0\r\n\r\n", seen: ["app:/old:0"], sees: { method: "GET", target: "/old?q=1" } },
  // Gunicorn's valid 014: a PUT with a JSON body, HTTP/1.0, no Host.
  { id: "HTTP/1.0 PUT with a body and no Host", raw: "PUT /stuff/here?foo=bar HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"nom\": \"nom\"}", seen: ["app:/stuff/here:14"], sees: { method: "PUT", target: "/stuff/here?foo=bar", body: '{"nom": "nom"}', headers: { "content-type": "application/json" } } },
  { id: "HTTP/1.0 keep-alive, then another request", raw: `GET /ka1 HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\nGET /ka2 HTTP/1.0\r\n${H}\r\n`, seen: ["app:/ka1:0", "app:/ka2:0"] },
  { id: "methods are tokens: PROPFIND, PURGE, MKCOL", raw: `PROPFIND /dav HTTP/1.1\r\n${H}\r\nPURGE /cache HTTP/1.1\r\n${H}\r\nMKCOL /col HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/dav:0", "app:/cache:0", "app:/col:0"], sees: { method: "PROPFIND" } },
  { id: "a method unknown to llhttp, still a token", raw: `-BLARGH /b HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/b:0"], sees: { method: "-BLARGH" } },
  { id: "DELETE with a body", raw: `DELETE /d HTTP/1.1\r\n${H}Content-Length: 3\r\nConnection: close\r\n\r\nabc`, seen: ["app:/d:3"], sees: { method: "DELETE", body: "abc" } },
  { id: "the app sees the fields as sent, the query and the body", raw: `POST /f?a=1&b=%20 HTTP/1.1\r\n${H}X-One: 1\r\nx-two: two words\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world`, seen: ["app:/f:11"], sees: { method: "POST", target: "/f?a=1&b=%20", origin: "http://example.com", headers: { "x-one": "1", "x-two": "two words" }, body: "hello world" } },
  { id: "chunk extensions with whitespace around ;", raw: chunkedPost("/ce", "5; some; parameters=stuff\r\nhello\r\n0\r\n\r\n", "Connection: close\r\n"), seen: ["app:/ce:5"], sees: { body: "hello" } },
  { id: "a request line at the limit (4094)", raw: `GET /${"r".repeat(4094 - "GET / HTTP/1.1".length)} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: [`app:/${"r".repeat(4094 - "GET / HTTP/1.1".length)}:0`] },
  { id: "a field at the limit (8190)", raw: `GET /fl HTTP/1.1\r\n${H}X-Long: ${"l".repeat(8190 - "X-Long: ".length)}\r\nConnection: close\r\n\r\n`, seen: ["app:/fl:0"], sees: { headers: { "x-long": "l".repeat(8190 - "X-Long: ".length) } } },
  { id: "POST with Content-Length", raw: `POST /p HTTP/1.1\r\n${H}Content-Length: 5\r\nConnection: close\r\n\r\nhello`, seen: ["app:/p:5"] },
  { id: "chunked with extension and trailer", raw: chunkedPost("/c", "5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", "Connection: close\r\n"), seen: ["app:/c:11"], sees: { method: "POST", body: "hello world" } },
  { id: "chunked then pipelined GET", raw: chunkedPost("/c", "5\r\nhello\r\n0\r\n\r\n") + `GET /next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/c:5", "app:/next:0"] },
  { id: "uppercase hex and leading zeros", raw: chunkedPost("/c", "000A\r\n0123456789\r\n0\r\n\r\n", "Connection: close\r\n"), seen: ["app:/c:10"] },
  { id: "header name case", raw: `POST /p HTTP/1.1\r\n${H}conTENT-Length: 2\r\nConnection: close\r\n\r\nhi`, seen: ["app:/p:2"] },
  { id: "OWS and tabs around values", raw: `GET /ows HTTP/1.1\r\nHost:\texample.com \r\nX-A:  \t v \t\r\nConnection: close\r\n\r\n`, seen: ["app:/ows:0"] },
  { id: "obs-text in value", raw: `GET /t HTTP/1.1\r\n${H}X-Latin: caf\xe9\r\nConnection: close\r\n\r\n`, seen: ["app:/t:0"], sees: { headers: { "x-latin": "caf\xe9" } } },
  { id: "token specials in name", raw: `GET /t HTTP/1.1\r\n${H}X.Custom|Pipe~!: 1\r\nConnection: close\r\n\r\n`, seen: ["app:/t:0"] },
  // A Request needs a URL: "*" reaches the app as the path "/*" (as Deno.serve gives it).
  { id: "OPTIONS *", raw: `OPTIONS * HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/*:0"] },
  { id: "absolute-form target", raw: `GET http://example.com/abs?x=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/abs:0"], sees: { target: "/abs?x=1", origin: "http://example.com" } },
  // A Fetch Request has no body for GET: the 3 bytes are framed off and dropped.
  { id: "GET with a body", raw: `GET /gb HTTP/1.1\r\n${H}Content-Length: 3\r\nConnection: close\r\n\r\nabc`, seen: ["app:/gb:0"] },
  { id: "Transfer_Encoding with underscore is an ordinary field", raw: `POST /p HTTP/1.1\r\n${H}Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, seen: ["app:/p:5", "app:/next:0"] },
  { id: "Host with port", raw: `GET /hp HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n`, seen: ["app:/hp:0"] },
  { id: "Host IPv6 literal", raw: `GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n`, seen: ["app:/v6:0"] },
  { id: "repeated ordinary header", raw: `GET /rep HTTP/1.1\r\n${H}Accept: a\r\nAccept: b\r\nConnection: close\r\n\r\n`, seen: ["app:/rep:0"] },
  // A valid request gets its answer before anything behind it is refused; nothing after a request
  // that closes the connection is parsed or refused.
  { id: "a valid request, then bytes that are not a request", raw: `GET /first HTTP/1.1\r\n${H}\r\ngarbage\r\n\r\n`, seen: ["app:/first:0"], statuses: [200, 400] },
  { id: "Connection: close, then another request", raw: `GET /closing HTTP/1.1\r\n${H}Connection: close\r\n\r\n${smuggled}`, seen: ["app:/closing:0"], statuses: [200] },
  { id: "HTTP/1.0 without keep-alive, then another request", raw: `GET /old10 HTTP/1.0\r\n${H}\r\n${smuggled}`, seen: ["app:/old10:0"], statuses: [200] },
  { id: "100 fields at the limit", raw: `GET /lim HTTP/1.1\r\n${headerLines(98)}${H}Connection: close\r\n\r\n`, seen: ["app:/lim:0"] },
];

/** Where a runtime's own parser decides before unicorn can, and decides otherwise (README lists these). */
export interface Deviation {
  readonly reason: string;
  /** Still refused and closed, with another status. */
  readonly status?: readonly number[];
  /** Let through to the app (nothing smuggled: the test checks that much). */
  readonly accepted?: true;
  /** A smuggled request does reach the app: the case is skipped, named. */
  readonly smuggles?: true;
  /** The case tests something the target does not do at all: skipped, named. */
  readonly notApplicable?: true;
  /**
   * Accepted as a valid request: its body is framed as written (the app gets it whole), so what
   * follows is a pipelined request, served, not a smuggled one.
   */
  readonly framed?: true;
}

/**
 * What is served: each runtime with its default engine, Deno with --engine native, and Bun with
 * --engine node (its node:http, which serves Node-style apps there).
 */
export type Target = "node" | "bun" | "deno" | "deno-native" | "bun-node";

const LLHTTP: Record<string, Deviation> = {
  "double space": { reason: "llhttp (node:http) accepts extra spaces between the parts of the request line", accepted: true },
  "a method unknown to llhttp, still a token": {
    reason: "llhttp knows a fixed list of methods (RFC 9110's, WebDAV's and some more); another token is a 400",
  },
  "chunk extensions with whitespace around ;": {
    reason: "llhttp refuses the whitespace RFC 9112 allows around a chunk extension's ;",
  },
};
const BUN_505 = { reason: "Bun.serve answers a malformed request line 505, not 400", status: [505] };
const HIDDEN_VERSION = "Deno.serve hides the version and serves HTTP/1.0 and 1.1 alike without Host: " +
  "unicorn takes such a request for HTTP/1.0 rather than refuse a valid one";
// A native engine's fields are read one by one, not walked (a walk costs 6 to 11 % of a request's CPU).
const UNREAD_FIELD = "the field-size limit and control bytes are checked on the fields unicorn reads (Host, " +
  "Content-Length, Transfer-Encoding, proxy headers); the engine's own cap bounds the rest of the head";
const NO_COUNT = "Deno.serve does not tell how many fields a request has";

export const DEVIATIONS: Record<Target, Record<string, Deviation>> = {
  node: LLHTTP,
  deno: {
    ...LLHTTP,
    "chunk extension over 16 KiB": {
      reason: "Deno's node:http does not bound chunk extensions (Node's llhttp stops at 16 KiB); --body-timeout bounds how long one lasts",
      framed: true,
    },
  },
  bun: {
    "003 LF instead of SP": BUN_505,
    "prefix_02 NUL in method": BUN_505,
    "trailing space": BUN_505,
    "tab separator": BUN_505,
    "bare CR in request line": BUN_505,
    "bare LF line ends": BUN_505,
    "HTTP/0.9": BUN_505,
    "lowercase http": BUN_505,
    "nonascii in target": { reason: "Bun.serve turns a non-ASCII byte of the target into U+FFFD", accepted: true },
    "many duplicate fields over the count": { reason: "Bun.serve merges repeated fields before unicorn counts them", accepted: true },
    "OPTIONS *": { reason: "Bun.serve refuses OPTIONS * (400)" },
    "user information in an absolute-form target": {
      reason: "Bun.serve drops the user information from the URL before unicorn sees it",
      accepted: true,
    },
    "HTTP/1.0 keep-alive, then another request": {
      reason: "Bun.serve closes an HTTP/1.0 connection after its first answer, keep-alive asked or not; the client sends the next one again",
    },
    "a method unknown to llhttp, still a token": { reason: "Bun.serve refuses a method it does not know (400)" },
    "chunk extensions with whitespace around ;": { reason: "Bun.serve refuses whitespace around a chunk extension's ; (400)" },
    "gzip, chunked: a coding unicorn does not decode": { reason: "Bun.serve refuses any coding but chunked itself, with 400", status: [400] },
    "DEL in value": { reason: UNREAD_FIELD, accepted: true },
    "007 header field over 8190": { reason: UNREAD_FIELD, accepted: true },
    "field over --limit-request-field-size 100": { reason: UNREAD_FIELD, accepted: true },
  },
  "bun-node": {
    ...LLHTTP,
    "HTTP/1.0 keep-alive, then another request": {
      reason: "Bun's node:http closes an HTTP/1.0 connection after its first answer, keep-alive asked or not; the client sends the next one again",
    },
  },
  "deno-native": {
    "bare LF line ends": { reason: "Deno.serve accepts bare LF line ends", accepted: true },
    "many duplicate fields over the count": { reason: "Deno.serve merges repeated fields before unicorn counts them", accepted: true },
    "chunked_09 trailing space": { reason: "Deno.serve accepts whitespace after a chunk size", smuggles: true },
    "chunked_10 leading space": { reason: "Deno.serve accepts whitespace before a chunk size", smuggles: true },
    "HTTP/1.1 without Host": { reason: HIDDEN_VERSION, accepted: true },
    "007 header field over 8190": { reason: UNREAD_FIELD, accepted: true },
    "field over --limit-request-field-size 100": { reason: UNREAD_FIELD, accepted: true },
    "009 101 header fields": { reason: NO_COUNT, accepted: true },
    "fields over --limit-request-fields 5": { reason: NO_COUNT, accepted: true },
    "over a limit, then a pipelined request": { reason: `${NO_COUNT}: the first request is served, and so is the next`, notApplicable: true },
  },
};

/** Targets that keep a connection open after answering `Connection: close` (the client closes). */
export const KEEPS_OPEN: Partial<Record<Target, string>> = {
  "deno-native": "Deno.serve keeps the connection open after a refusal; unicorn refuses what else comes on it",
};
