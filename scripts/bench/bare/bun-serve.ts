// `bun bun-serve.ts PORT [reusePort]`: with reusePort, several processes listen on the same port and the
// kernel spreads the connections among them (Bun's way to use more cores; run.mjs starts N of them).
const Bun = (globalThis as any).Bun;
Bun.serve({
  port: Number(process.argv[2]),
  hostname: "127.0.0.1",
  reusePort: process.argv[3] === "reusePort",
  development: false,
  // idle.mjs keeps connections idle longer than Bun.serve's 10 s idleTimeout (255 s at most).
  ...(process.env.BENCH_KEEP_ALIVE_S ? { idleTimeout: Math.min(255, Number(process.env.BENCH_KEEP_ALIVE_S)) } : {}),
  fetch: () => new Response("Hello, World!", { headers: { "content-type": "text/plain" } }),
});
console.error("ready");
