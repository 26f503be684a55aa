/** Request counts, their aggregation, the Prometheus exposition, StatsD lines and the control socket's naming. */
import { describe, expect, test } from "vitest";
import { ServerMetrics, type WorkerView } from "../../src/arbiter/metrics.ts";
import { parseStatsdHost, statsdLines } from "../../src/arbiter/observers.ts";
import { controlName, controlSocketPath } from "../../src/ctl/protocol.ts";
import { parseBind } from "../../src/config/bind.ts";
import { emptyStats, quantile, RequestStats } from "../../src/worker/stats.ts";
import { parseExposition } from "../helpers/prometheus.ts";

/** A clock the test moves, in ms. */
function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe("a worker's request counts", () => {
  test("in flight, by method and status class, durations in buckets, busy time", () => {
    const c = clock();
    const stats = new RequestStats(c.now);
    const a = stats.start();
    c.advance(2);
    const b = stats.start();
    c.advance(1);
    stats.end(a, "GET", 200); // 3 ms
    c.advance(40);
    stats.end(b, "POST", 503); // 41 ms
    c.advance(100); // idle
    const t = stats.start();
    stats.refused(431);
    expect(stats.snapshot()).toMatchObject({ requests: 2, inFlight: 1, durationSum: 0.044, refused: { 431: 1 } });
    c.advance(5);
    stats.end(t, "BREW", 418);
    const snap = stats.snapshot();
    expect(snap.requests).toBe(3);
    expect(snap.inFlight).toBe(0);
    // 43 ms busy with the first two, then 5 ms: the 100 ms idle is not counted.
    expect(snap.busySeconds).toBeCloseTo(0.048, 6);
    expect(snap.counts[0 * 5 + 1]).toBe(1); // GET 2xx
    expect(snap.counts[2 * 5 + 4]).toBe(1); // POST 5xx
    expect(snap.counts[7 * 5 + 3]).toBe(1); // other 4xx
    // Buckets: 3 ms in ≤5 ms, 41 ms in ≤50 ms, 5 ms in ≤5 ms.
    expect(snap.buckets[2]).toBe(2);
    expect(snap.buckets[5]).toBe(1);
    expect(quantile(snap, 0.5)).toBe(0.005);
    expect(quantile(snap, 0.99)).toBe(0.05);
    expect(quantile(emptyStats(), 0.5)).toBeUndefined();
  });
});

function view(pid: number, stats: ReturnType<RequestStats["snapshot"]>): WorkerView {
  return { pid, id: pid, state: "serving", age: 10, heartbeatAge: 0.5, rss: 50 * 1048576, busy: 0.25, stats };
}

describe("the server's metrics", () => {
  test("the exposition parses, and a worker that is gone keeps its counts", () => {
    const c = clock();
    const one = new RequestStats(c.now);
    const two = new RequestStats(c.now);
    for (let i = 0; i < 5; i++) one.end(one.start(), "GET", 200);
    for (let i = 0; i < 3; i++) two.end(two.start(), "GET", 404);
    two.refused(400);
    const metrics = new ServerMetrics();
    const before = parseExposition(metrics.prometheus({ workers: [view(11, one.snapshot()), view(12, two.snapshot())], backlog: 3 }));
    expect(before.get('unicorn_http_requests_total{method="GET",code="2xx"}')).toBe(5);
    expect(before.get('unicorn_http_requests_total{method="GET",code="4xx"}')).toBe(3);
    expect(before.get('unicorn_http_request_duration_seconds_bucket{le="+Inf"}')).toBe(8);
    expect(before.get("unicorn_http_request_duration_seconds_count")).toBe(8);
    expect(before.get('unicorn_http_refusals_total{code="400"}')).toBe(1);
    expect(before.get('unicorn_workers{state="serving"}')).toBe(2);
    expect(before.get('unicorn_worker_busy_ratio{pid="11"}')).toBe(0.25);
    expect(before.get("unicorn_listen_queue_length")).toBe(3);
    // Worker 11 is killed: its counts stay, its gauges go.
    metrics.workerGone(one.snapshot(), "crash");
    const after = parseExposition(metrics.prometheus({ workers: [view(12, two.snapshot())] }));
    expect(after.get('unicorn_http_requests_total{method="GET",code="2xx"}')).toBe(5);
    expect(after.get('unicorn_worker_restarts_total{reason="crash"}')).toBe(1);
    expect(after.has('unicorn_worker_busy_ratio{pid="11"}')).toBe(false);
    expect(after.has("unicorn_listen_queue_length")).toBe(false);
  });
});

describe("StatsD", () => {
  test("Gunicorn's names under a prefix, counts as deltas, the mean duration sampled to keep the count, tags", () => {
    const c = clock();
    const stats = new RequestStats(c.now);
    const first = stats.snapshot();
    for (const ms of [10, 30]) {
      const t = stats.start();
      c.advance(ms);
      stats.end(t, "GET", 200);
    }
    const t = stats.start();
    c.advance(20);
    stats.end(t, "POST", 500);
    stats.refused(413);
    stats.webSocket(1);
    stats.webSocket(1);
    stats.webSocket(-1);
    expect(statsdLines(first, stats.snapshot(), 4, "app", "env:prod")).toEqual([
      "app.unicorn.workers:4|g|#env:prod",
      "app.unicorn.websockets:1|g|#env:prod",
      "app.unicorn.requests:3|c|#env:prod",
      "app.unicorn.request.status.2xx:2|c|#env:prod",
      "app.unicorn.request.status.5xx:1|c|#env:prod",
      `app.unicorn.request.duration:20|ms|@${1 / 3}|#env:prod`,
      "app.unicorn.request.refused.413:1|c|#env:prod",
    ]);
    const again = stats.snapshot();
    expect(statsdLines(again, again, 4, "", "")).toEqual(["unicorn.workers:4|g", "unicorn.websockets:1|g"]);
    expect(parseStatsdHost("[::1]:9125")).toEqual({ host: "::1", port: 9125 });
    expect(parseStatsdHost("statsd")).toEqual({ host: "statsd", port: 8125 });
    expect(() => parseStatsdHost("a:b:c")).toThrow(/Invalid --statsd-host "a:b:c": expected HOST:PORT/);
  });
});

describe("the control socket's path", () => {
  const host = {
    runtimeFolder: () => ({ path: "/run/user/1000", shared: false }),
    uid: () => 1000,
    resolvePath: (base: string, p: string) => (p.startsWith("/") ? p : `${base}/${p}`),
    cwd: () => "/srv/app",
  };
  test("named by --name or the first address, in the user's runtime folder; or as given", () => {
    expect(controlName(undefined, [parseBind("127.0.0.1:8000")])).toBe("127.0.0.1-8000");
    expect(controlName(undefined, [parseBind("[::1]:8000")])).toBe("1-8000");
    expect(controlName("shop api", [])).toBe("shop-api");
    expect(controlSocketPath(host, { controlSocket: undefined, procName: "shop", bind: [] })).toBe("/run/user/1000/unicorn/shop.ctl");
    expect(controlSocketPath(host, { controlSocket: "run/x.ctl", procName: "shop", bind: [] })).toBe("/srv/app/run/x.ctl");
    const shared = { ...host, runtimeFolder: () => ({ path: "/tmp", shared: true }) };
    expect(controlSocketPath(shared, { controlSocket: undefined, procName: "shop", bind: [] })).toBe("/tmp/unicorn-1000/shop.ctl");
  });
});
