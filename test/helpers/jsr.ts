/**
 * Serves the files `deno publish` would publish (deno.json's publish.include) over HTTP on
 * loopback, as JSR serves a package: remote modules, with bare specifiers rewritten through
 * deno.json's import map to what they name (`npm:@hono/node-server@^2.1.9`), as `deno publish`
 * rewrites them. Deno then runs unicorn as a remote module, workers included.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { ROOT } from "./server.ts";

interface DenoJson {
  imports: Record<string, string>;
  publish: { include: string[] };
}

const SPECIFIER = /((?:from|import)\s*\(?\s*)(["'])([^"'\n]+)\2/g;

/** A module's text with its bare specifiers rewritten through the import map. */
export function unfurl(text: string, imports: Record<string, string>): string {
  return text.replace(SPECIFIER, (whole, before: string, quote: string, specifier: string) => {
    if (specifier.startsWith(".") || specifier.includes(":")) return whole;
    const hit = Object.entries(imports).find(([key]) => specifier === key || specifier.startsWith(`${key}/`));
    return hit ? `${before}${quote}${hit[1]}${specifier.slice(hit[0].length)}${quote}` : whole;
  });
}

/** Starts the server; resolves with its base URL and a function that stops it. */
export function serveAsJsr(): Promise<{ url: string; close(): Promise<void> }> {
  const deno = JSON.parse(fs.readFileSync(path.join(ROOT, "deno.json"), "utf8")) as DenoJson;
  const published = (file: string) =>
    deno.publish.include.some((entry) => (entry.endsWith("/") ? file.startsWith(entry) : file === entry));
  const server = http.createServer((request, response) => {
    const file = decodeURIComponent(new URL(request.url ?? "/", "http://jsr").pathname).slice(1);
    const full = path.join(ROOT, file);
    if (file.includes("..") || !published(file) || !fs.existsSync(full)) {
      response.writeHead(404).end();
      return;
    }
    const text = fs.readFileSync(full, "utf8");
    response.writeHead(200, { "content-type": file.endsWith(".ts") ? "application/typescript" : "text/plain" });
    response.end(file.endsWith(".ts") ? unfurl(text, deno.imports) : text);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        // Deno keeps its connections alive: close them, or close() waits for them.
        close: () => new Promise((done) => (server.close(() => done()), server.closeAllConnections())),
      })
    )
  );
}
