import { Hono } from "hono";

const app = new Hono();
app.get("/user/:name", (c) => c.json({ name: c.req.param("name") }));
export default app;
