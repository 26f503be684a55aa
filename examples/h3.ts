/**
 * An h3 v2 app: `npx unicorn examples/h3.ts -w 2` (Bun and Deno too). getRequestIP reads request.ip,
 * which unicorn sets to the client it decided.
 */
import { getQuery, getRequestIP, getRouterParam, H3, readBody } from "h3";

const app = new H3();

app.get("/", () => "Hello from h3\n");

app.get("/hello/:name", (event) => ({ message: `${getQuery(event).greeting ?? "Hello"}, ${getRouterParam(event, "name")}` }));

app.post("/echo", async (event) => {
  event.res.status = 201;
  return { received: await readBody(event) };
});

app.get("/stream", () =>
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
  ));

app.post("/upload", async (event) => {
  let bytes = 0;
  for await (const chunk of event.req.body ?? []) bytes += chunk.byteLength;
  return { bytes };
});

app.get("/ip", (event) => ({ ip: getRequestIP(event) ?? null }));

export default app;
