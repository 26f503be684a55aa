import http from "node:http";

const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": "13" });
  res.end("Hello, World!");
});
server.listen(Number(process.argv[2]), "127.0.0.1", () => console.error("ready"));
