/** A Hono app: `npx unicorn examples/hono.ts -w 2`. Any object with a fetch(request) method works the same. */
import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.text("Hello from Hono\n"));
app.get("/users/:id", (c) => c.json({ id: c.req.param("id") }));

export default app;
