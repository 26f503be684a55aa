/**
 * An Elysia app, exported without listening: `bunx --bun unicorn examples/elysia.ts -w 2` (Node and Deno
 * too). unicorn gives an app that never listened a `server` whose requestIP() is the client it decided.
 */
import { Elysia } from "elysia";

const app = new Elysia()
  .get("/", () => "Hello from Elysia\n")
  .get("/hello/:name", ({ params, query }) => ({ message: `${query.greeting ?? "Hello"}, ${params.name}` }))
  .post("/echo", ({ body, set }) => {
    set.status = 201;
    return { received: body };
  })
  .get("/stream", () =>
    new Response(
      new ReadableStream({
        async start(controller) {
          for (let i = 0; i < 5; i++) {
            controller.enqueue(new TextEncoder().encode(`chunk ${i}\n`));
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          controller.close();
        },
      }),
      { headers: { "content-type": "text/plain" } },
    ))
  // parse: "none" leaves the body unread: it is streamed here, never held whole.
  .post("/upload", async ({ request }) => {
    let bytes = 0;
    for await (const chunk of request.body ?? []) bytes += chunk.byteLength;
    return { bytes };
  }, { parse: "none" })
  .get("/ip", ({ server, request }) => ({ ip: server?.requestIP(request)?.address ?? null }));

export default app;
