import server from "../apps/http.mjs";

// idle.mjs keeps connections idle longer than node:http's 5 s keepAliveTimeout.
if (process.env.BENCH_KEEP_ALIVE_S) server.keepAliveTimeout = Number(process.env.BENCH_KEEP_ALIVE_S) * 1000;
server.listen(Number(process.argv[2]), "127.0.0.1", () => console.error("ready"));
