/**
 * An Express 5 app, exported as it is: `npx unicorn examples/express.ts -w 2`.
 * unicorn tells an Express app by its shape and serves it with node:http on every runtime.
 * Leave Express's "trust proxy" off: unicorn applies --forwarded-allow-ips, and req.ip is the client it decided.
 */
import express from "express";

const app = express();

app.get("/", (_req, res) => {
  res.type("text").send("Hello from Express\n");
});

// Routing and a query: GET /hello/ada?greeting=Hi
app.get("/hello/:name", (req, res) => {
  res.json({ message: `${req.query.greeting ?? "Hello"}, ${req.params.name}` });
});

// A JSON body.
app.post("/echo", express.json(), (req, res) => {
  res.status(201).json({ received: req.body });
});

// A streamed response: five chunks, written as they are made.
app.get("/stream", async (_req, res) => {
  res.type("text");
  for (let i = 0; i < 5; i++) {
    res.write(`chunk ${i}\n`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  res.end();
});

// A large upload, read as it arrives: the worker never holds the whole body.
app.post("/upload", async (req, res) => {
  let bytes = 0;
  for await (const chunk of req) bytes += (chunk as Buffer).length;
  res.json({ bytes });
});

// The client: the peer, or the client a trusted proxy named.
app.get("/ip", (req, res) => {
  res.json({ ip: req.ip });
});

export default app;
