/**
 * The hello-world app of `npm run bench` as a Fetch handler on @hono/node-server, as a Fetch app (Hono,
 * itty-router, a plain handler) runs on Node without unicorn: listen.mjs listens it in each worker of
 * node:cluster (cluster.mjs) and of PM2's cluster mode. The like-for-like peer of unicorn's Node cases,
 * which serve the same handler (node:http's own handler has no Request or Response to make).
 */
import { serve } from "@hono/node-server";

const fetch = () => new Response("Hello, World!", { headers: { "content-type": "text/plain" } });

export default {
  listen(port, hostname, callback) {
    const server = serve({ fetch, port, hostname }, () => callback());
    server.on("error", callback);
  },
};
