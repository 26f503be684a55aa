// `bun bun-serve.ts PORT [reusePort]`: with reusePort, several processes listen on the same port and the
// kernel spreads the connections among them (Bun's way to use more cores; run.mjs starts N of them).
const Bun = (globalThis as any).Bun;
Bun.serve({
  port: Number(process.argv[2]),
  hostname: "127.0.0.1",
  reusePort: process.argv[3] === "reusePort",
  development: false,
  fetch: () => new Response("Hello, World!", { headers: { "content-type": "text/plain" } }),
});
console.error("ready");
