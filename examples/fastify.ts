/**
 * A Fastify app, exported as it is (not listened on): `npx unicorn examples/fastify.ts -w 2`.
 * unicorn makes it ready and serves its routing with node:http. Leave `trustProxy` off: request.ip is
 * the client unicorn decided.
 */
import { Readable } from "node:stream";
import Fastify from "fastify";

const app = Fastify();

// Uploads reach the route as a stream, not a buffer.
app.addContentTypeParser("application/octet-stream", (_request, payload, done) => done(null, payload));

app.get("/", async () => "Hello from Fastify\n");

app.get<{ Params: { name: string }; Querystring: { greeting?: string } }>("/hello/:name", async (request) => {
  return { message: `${request.query.greeting ?? "Hello"}, ${request.params.name}` };
});

app.post("/echo", async (request, reply) => {
  reply.code(201);
  return { received: request.body };
});

app.get("/stream", async (_request, reply) => {
  reply.type("text/plain");
  return reply.send(Readable.from((async function* () {
    for (let i = 0; i < 5; i++) {
      yield `chunk ${i}\n`;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })()));
});

app.post("/upload", async (request) => {
  let bytes = 0;
  for await (const chunk of request.body as AsyncIterable<Buffer>) bytes += chunk.length;
  return { bytes };
});

app.get("/ip", async (request) => ({ ip: request.ip }));

export default app;
