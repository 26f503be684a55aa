/**
 * Listens a benchmark app itself, as its users do without unicorn: `node listen.mjs express|fastify|hono|http PORT`.
 * The bare case runs it alone; PM2's cluster mode runs it in each of its workers (`pm2 start listen.mjs -i N -- express PORT`);
 * cluster.mjs imports it in each worker.
 */
const [framework, port] = process.argv.slice(2);
const { default: app } = await import(`./${framework}.mjs`);
const host = "127.0.0.1";

if (framework === "fastify") {
  await app.listen({ port: Number(port), host });
} else {
  await new Promise((resolve, reject) => app.listen(Number(port), host, (error) => (error ? reject(error) : resolve())));
}
