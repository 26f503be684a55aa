/**
 * The hello-world app of `npm run bench` as a plain node:http server, not listened on: bare/node-http.mjs
 * listens it alone, listen.mjs in each worker of node:cluster (cluster.mjs) and of PM2's cluster mode.
 */
import http from "node:http";

export default http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": "13" });
  res.end("Hello, World!");
});
