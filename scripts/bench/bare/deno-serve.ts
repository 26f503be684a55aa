const Deno = (globalThis as any).Deno;
Deno.serve(
  { port: Number(Deno.args[0]), hostname: "127.0.0.1", onListen: () => console.error("ready") },
  () => new Response("Hello, World!", { headers: { "content-type": "text/plain" } }),
);
