/** The Express benchmark app: one JSON route. Exported as it is, for unicorn; listen.mjs and cluster.mjs listen it themselves. */
import express from "express";

const app = express();
app.get("/", (_req, res) => {
  res.json({ message: "Hello, World!" });
});

export default app;
