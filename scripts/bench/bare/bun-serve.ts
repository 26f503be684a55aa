const Bun = (globalThis as any).Bun;
Bun.serve({
  port: Number(process.argv[2]),
  hostname: "127.0.0.1",
  development: false,
  fetch: () => new Response("Hello, World!", { headers: { "content-type": "text/plain" } }),
});
console.error("ready");
