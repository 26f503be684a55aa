/**
 * A Hono app: `npx unicorn examples/hono.ts -w 2` (or with bun, deno: the same file).
 * Hono's getConnInfo comes from each runtime's adapter; under unicorn every one of them gives the
 * client unicorn decided (the peer, or the client a trusted proxy named).
 */
import { Hono } from "hono";
import { stream } from "hono/streaming";
import type { GetConnInfo } from "hono/conninfo";

// The adapter of the runtime this worker runs on.
const { getConnInfo }: { getConnInfo: GetConnInfo } = "Bun" in globalThis
  ? await import("hono/bun")
  : "Deno" in globalThis
  ? await import("hono/deno")
  : await import("@hono/node-server/conninfo");

const app = new Hono();

app.get("/", (c) => c.text("Hello from Hono\n"));

app.get("/hello/:name", (c) => c.json({ message: `${c.req.query("greeting") ?? "Hello"}, ${c.req.param("name")}` }));

app.post("/echo", async (c) => c.json({ received: await c.req.json() }, 201));

app.get("/stream", (c) =>
  stream(c, async (s) => {
    for (let i = 0; i < 5; i++) {
      await s.write(`chunk ${i}\n`);
      await s.sleep(10);
    }
  }));

app.post("/upload", async (c) => {
  let bytes = 0;
  for await (const chunk of c.req.raw.body ?? []) bytes += chunk.byteLength;
  return c.json({ bytes });
});

app.get("/ip", (c) => c.json({ ip: getConnInfo(c).remote.address }));

export default app;
