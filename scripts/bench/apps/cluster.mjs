/**
 * The app under plain node:cluster, as the Node docs show it: `node cluster.mjs express|fastify|http PORT WORKERS`.
 * The primary forks WORKERS workers and forks again when one dies; each worker listens the app (listen.mjs).
 */
import cluster from "node:cluster";

if (cluster.isPrimary) {
  const workers = Number(process.argv[4] ?? 2);
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (_worker, _code, signal) => {
    if (signal !== "SIGTERM") cluster.fork();
  });
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill("SIGTERM");
    process.exit(0);
  });
} else {
  await import("./listen.mjs");
}
