import server from "../apps/http.mjs";

server.listen(Number(process.argv[2]), "127.0.0.1", () => console.error("ready"));
