import { defineConfig } from "unicorn-http";

export default defineConfig({
  workers: 3,
  timeout: 45,
  onStarting: (server) => server.log.info("typed config hook"),
});
