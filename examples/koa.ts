/**
 * A Koa app with @koa/router, exported as it is: `npx unicorn examples/koa.ts -w 2`.
 * unicorn serves `app.callback()` with node:http. Leave `app.proxy` off: ctx.ip is the client unicorn decided.
 */
import { Readable } from "node:stream";
import Router from "@koa/router";
import Koa from "koa";

const app = new Koa();
const router = new Router();

router.get("/", (ctx) => {
  ctx.body = "Hello from Koa\n";
});

router.get("/hello/:name", (ctx) => {
  ctx.body = { message: `${ctx.query.greeting ?? "Hello"}, ${ctx.params.name}` };
});

router.post("/echo", async (ctx) => {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  ctx.status = 201;
  ctx.body = { received: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
});

router.get("/stream", (ctx) => {
  ctx.type = "text/plain";
  ctx.body = Readable.from((async function* () {
    for (let i = 0; i < 5; i++) {
      yield `chunk ${i}\n`;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })());
});

router.post("/upload", async (ctx) => {
  let bytes = 0;
  for await (const chunk of ctx.req) bytes += (chunk as Buffer).length;
  ctx.body = { bytes };
});

router.get("/ip", (ctx) => {
  ctx.body = { ip: ctx.ip };
});

app.use(router.routes());
app.use(router.allowedMethods());

export default app;
