/**
 * An npm registry on loopback that has this checkout's packed tarball as `unicorn-http`, and passes
 * every other package through to the public registry. Pointed at by `NPM_CONFIG_REGISTRY`, it lets
 * a Dockerfile's own install step (`npm ci`, `bun install`, `deno install`) run unchanged, against an
 * app's package.json that names `unicorn-http` by version as a user's does. (Deno cannot install a
 * `file:` tarball: it links the .tgz file as if it were a folder.)
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";

const UPSTREAM = "https://registry.npmjs.org";

export interface Registry {
  url: string;
  /** Requests answered, by path: the tests check the tarball was fetched from here. */
  served: string[];
  close(): Promise<void>;
}

/** The package.json inside an npm tarball. */
function manifestOf(tarball: string): Record<string, unknown> {
  return JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" }));
}

/** Starts the registry serving `tarball` as its package. */
export function serveRegistry(tarball: string): Promise<Registry> {
  const manifest = manifestOf(tarball);
  const name = manifest.name as string;
  const version = manifest.version as string;
  const bytes = fs.readFileSync(tarball);
  const file = `/${name}/-/${name}-${version}.tgz`;
  const served: string[] = [];
  let base = "";
  const packument = () => ({
    name,
    "dist-tags": { latest: version },
    versions: {
      [version]: {
        ...manifest,
        _id: `${name}@${version}`,
        dist: {
          tarball: `${base}${file}`,
          shasum: createHash("sha1").update(bytes).digest("hex"),
          integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
        },
      },
    },
  });

  const server = http.createServer((request, response) => {
    const url = decodeURIComponent(new URL(request.url ?? "/", "http://registry").pathname);
    served.push(url);
    if (url === `/${name}`) {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(packument()));
    } else if (url === file) {
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length }).end(bytes);
    } else if (request.method === "GET") {
      void pass(request, response);
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({
        url: base,
        served,
        close: () => new Promise((done) => (server.close(() => done()), server.closeAllConnections())),
      });
    })
  );
}

/** Any other package's metadata or tarball, from the public registry. */
async function pass(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  try {
    const upstream = await fetch(`${UPSTREAM}${request.url}`, {
      headers: { accept: request.headers.accept ?? "application/json" },
    });
    const body = Buffer.from(await upstream.arrayBuffer());
    // fetch has decompressed the body: send it without the upstream's content-encoding.
    response.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    response.end(body);
  } catch (error) {
    response.writeHead(502).end(String(error));
  }
}
