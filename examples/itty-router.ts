/**
 * An itty-router app: `npx unicorn examples/itty-router.ts -w 2` (Bun and Deno too). itty-router has
 * no client-address helper: unicorn's second argument (info.remoteAddr) is passed on to each route.
 */
import { AutoRouter, type IRequest } from "itty-router";
import type { ConnInfo } from "unicorn-http";

const router = AutoRouter();

router.get("/", () => new Response("Hello from itty-router\n", { headers: { "content-type": "text/plain" } }));

router.get("/hello/:name", (request: IRequest) => ({ message: `${request.query.greeting ?? "Hello"}, ${request.params.name}` }));

router.post("/echo", async (request: IRequest) => Response.json({ received: await request.json() }, { status: 201 }));

router.get("/stream", () =>
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

router.post("/upload", async (request: IRequest) => {
  let bytes = 0;
  for await (const chunk of request.body ?? []) bytes += chunk.byteLength;
  return { bytes };
});

router.get("/ip", (_request: IRequest, info: ConnInfo) => ({ ip: info.remoteAddr.hostname }));

export default router;
