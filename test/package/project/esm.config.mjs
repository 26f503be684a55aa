import { defineConfig } from "unicorn-http";

export default defineConfig({ workers: 3 });
