import { serve } from "@hono/node-server";

const fetch = () => new Response("Hello, World!", { headers: { "content-type": "text/plain" } });
serve({ fetch, port: Number(process.argv[2]), hostname: "127.0.0.1" }, () => console.error("ready"));
