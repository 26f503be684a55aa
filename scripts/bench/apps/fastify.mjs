/** The Fastify benchmark app: one JSON route. Exported as it is (not listened on), for unicorn; listen.mjs and cluster.mjs listen it themselves. */
import Fastify from "fastify";

const app = Fastify();
app.get("/", async () => ({ message: "Hello, World!" }));

export default app;
