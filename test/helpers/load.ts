/**
 * A bounded client loop for reload tests: keep-alive and fresh-connection
 * clients hitting the server until told to stop, counting answers and failures.
 */
import http from "node:http";

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
  pids: Set<string>;
}

export class Load {
  readonly result: LoadResult = { ok: 0, failed: 0, errors: [], pids: new Set() };
  #running = true;
  #loops: Promise<void>[] = [];

  constructor(url: string, options: { keepAlive?: number; fresh?: number; maxRequests?: number } = {}) {
    const target = new URL(url);
    const max = options.maxRequests ?? 100_000;
    const one = (agent: http.Agent | false) =>
      new Promise<void>((resolve) => {
        const req = http.get({ host: target.hostname, port: target.port, path: "/pid", agent }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => {
            if (res.statusCode === 200) {
              this.result.ok++;
              this.result.pids.add(body);
            } else this.fail(`status ${res.statusCode}`);
            resolve();
          });
          res.on("error", (e) => (this.fail(e.message), resolve()));
        });
        req.on("error", (e) => (this.fail(e.message), resolve()));
      });
    const loop = async (agent: http.Agent | false) => {
      while (this.#running && this.result.ok + this.result.failed < max) await one(agent);
      if (agent) agent.destroy();
    };
    for (let i = 0; i < (options.keepAlive ?? 4); i++) {
      this.#loops.push(loop(new http.Agent({ keepAlive: true, maxSockets: 1 })));
    }
    for (let i = 0; i < (options.fresh ?? 2); i++) this.#loops.push(loop(false));
  }

  private fail(message: string): void {
    this.result.failed++;
    if (this.result.errors.length < 10) this.result.errors.push(message);
  }

  /** Waits until at least `count` requests were answered. */
  async answered(count: number, timeout = 20_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (this.result.ok < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.result.ok} answers before the deadline`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<LoadResult> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.result;
  }
}
